//! Writing RGB frames to an H.264 MP4 file (test clips, evidence clips).
//!
//! ```text
//! gst-launch-1.0 appsrc caps=video/x-raw,format=RGB,width=W,height=H,framerate=F/1 ! videoconvert \
//!     ! x264enc speed-preset=ultrafast key-int-max=F ! h264parse ! mp4mux ! filesink location=PATH
//! ```

use std::path::Path;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use crate::MediaError;

/// Encode `frames` (packed RGB, `width` x `height`) at `fps` into an MP4 at `path`.
pub fn write_mp4(
    path: &Path,
    width: u32,
    height: u32,
    fps: u32,
    frames: impl IntoIterator<Item = Vec<u8>>,
) -> Result<u64, MediaError> {
    crate::init()?;
    let err = |why: String| MediaError::Start { camera: "clip-writer".into(), why };
    let caps = gst::Caps::builder("video/x-raw")
        .field("format", "RGB")
        .field("width", width as i32)
        .field("height", height as i32)
        .field("framerate", gst::Fraction::new(fps as i32, 1))
        .build();
    let src = gst_app::AppSrc::builder().caps(&caps).format(gst::Format::Time).build();
    let make = |name: &str| gst::ElementFactory::make(name).build().map_err(|e| err(format!("{name}: {e}")));
    let convert = make("videoconvert")?;
    let encode = gst::ElementFactory::make("x264enc")
        .property_from_str("speed-preset", "ultrafast")
        .property("key-int-max", fps)
        .build()
        .map_err(|e| err(format!("x264enc (gstreamer1.0-plugins-ugly): {e}")))?;
    let parse = make("h264parse")?;
    let mux = make("mp4mux")?;
    let sink = gst::ElementFactory::make("filesink")
        .property("location", path.to_string_lossy().as_ref())
        .build()
        .map_err(|e| err(e.to_string()))?;
    let pipeline = gst::Pipeline::new();
    pipeline.add_many([src.upcast_ref(), &convert, &encode, &parse, &mux, &sink]).map_err(|e| err(e.to_string()))?;
    gst::Element::link_many([src.upcast_ref(), &convert, &encode, &parse, &mux, &sink])
        .map_err(|e| err(e.to_string()))?;
    pipeline.set_state(gst::State::Playing).map_err(|e| err(e.to_string()))?;
    let frame_ns = 1_000_000_000u64 / fps as u64;
    let mut n = 0u64;
    for rgb in frames {
        if rgb.len() != (width * height * 3) as usize {
            let _ = pipeline.set_state(gst::State::Null);
            return Err(err(format!("frame {n} has {} bytes, want {}", rgb.len(), width * height * 3)));
        }
        let mut buffer = gst::Buffer::from_mut_slice(rgb);
        {
            let b = buffer.get_mut().expect("fresh buffer");
            b.set_pts(gst::ClockTime::from_nseconds(n * frame_ns));
            b.set_duration(gst::ClockTime::from_nseconds(frame_ns));
        }
        src.push_buffer(buffer).map_err(|e| err(format!("push: {e:?}")))?;
        n += 1;
    }
    src.end_of_stream().map_err(|e| err(format!("eos: {e:?}")))?;
    let bus = pipeline.bus().ok_or_else(|| err("no bus".into()))?;
    let result = match bus
        .timed_pop_filtered(gst::ClockTime::from_seconds(60), &[gst::MessageType::Eos, gst::MessageType::Error])
    {
        Some(msg) => match msg.view() {
            gst::MessageView::Eos(_) => Ok(n),
            gst::MessageView::Error(e) => Err(err(e.error().to_string())),
            _ => Ok(n),
        },
        None => Err(err("encoder did not finish within 60 s".into())),
    };
    let _ = pipeline.set_state(gst::State::Null);
    result
}
