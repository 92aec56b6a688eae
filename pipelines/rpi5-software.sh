#!/bin/sh
# Raspberry Pi 5 has no H.264 decoder block: libav on the Cortex-A76 cores. Also runs on x86-64.
set -eu
: "${CLIP:=media/vtest.mp4}"
exec gst-launch-1.0 -v filesrc location="$CLIP" ! qtdemux ! h264parse ! avdec_h264 max-threads=2 \
  ! videoconvert ! video/x-raw,format=RGB ! fpsdisplaysink video-sink=fakesink text-overlay=false sync=false
