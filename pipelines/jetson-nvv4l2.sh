#!/bin/sh
# NVIDIA Jetson: NVDEC through nvv4l2decoder; nvvidconv brings frames from NVMM to system memory.
set -eu
: "${CLIP:=media/vtest.mp4}"
exec gst-launch-1.0 -v filesrc location="$CLIP" ! qtdemux ! h264parse ! nvv4l2decoder \
  ! nvvidconv ! video/x-raw,format=RGBA ! videoconvert ! video/x-raw,format=RGB \
  ! fpsdisplaysink video-sink=fakesink text-overlay=false sync=false
