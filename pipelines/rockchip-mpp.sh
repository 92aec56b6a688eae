#!/bin/sh
# Rockchip RK3566/RK3588: the VPU through Rockchip MPP (mppvideodec), NV12 out.
set -eu
: "${CLIP:=media/vtest.mp4}"
exec gst-launch-1.0 -v filesrc location="$CLIP" ! qtdemux ! h264parse ! mppvideodec \
  ! videoconvert ! video/x-raw,format=RGB ! fpsdisplaysink video-sink=fakesink text-overlay=false sync=false
