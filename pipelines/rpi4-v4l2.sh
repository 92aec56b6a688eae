#!/bin/sh
# Raspberry Pi 4: H.264 decoded by the VideoCore through V4L2 (bcm2835-codec), converted to
# RGB for the detector. Prints frames/s via fpsdisplaysink.
set -eu
: "${CLIP:=media/vtest.mp4}"
exec gst-launch-1.0 -v filesrc location="$CLIP" ! qtdemux ! h264parse ! v4l2h264dec \
  ! videoconvert ! video/x-raw,format=RGB ! fpsdisplaysink video-sink=fakesink text-overlay=false sync=false
