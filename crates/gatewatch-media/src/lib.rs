//! GStreamer adapter: a camera URI in, RGB [`Frame`]s out.
//!
//! The pipeline this module builds, per camera:
//!
//! ```text
//! gst-launch-1.0 uridecodebin uri=URI ! videoconvert ! video/x-raw,format=RGB \
//!     ! appsink name=frames sync=<realtime> max-buffers=2 drop=<live>
//! ```
//!
//! `uridecodebin` handles `file://`, `rtsp://`, `http(s)://` and `v4l2://` URIs. Live sources
//! drop old frames when the worker falls behind (newest wins); files apply back-pressure, so
//! every frame of a clip is decoded. End of stream and pipeline errors come back as values.
//! Per-board decoder variants to edit live in `pipelines/`.

pub mod clip;

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use gatewatch_core::frame::Frame;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum MediaError {
    #[error("GStreamer could not start: {0}")]
    Init(String),
    #[error("camera {camera}: bad source {uri:?}: {why}")]
    Source { camera: String, uri: String, why: String },
    #[error("camera {camera}: could not build the pipeline: {source}")]
    Build {
        camera: String,
        #[source]
        source: gst::glib::BoolError,
    },
    #[error("camera {camera}: pipeline refused to start: {why}")]
    Start { camera: String, why: String },
    #[error("camera {camera}: stream error from {element}: {message}")]
    Stream { camera: String, element: String, message: String, debug: Option<String> },
    #[error("camera {camera}: frame with unusable layout: {why}")]
    Layout { camera: String, why: String },
}

/// What one pull gave.
#[derive(Debug)]
pub enum Pulled {
    Frame(Frame),
    /// The stream ended (files; a live source that hung up cleanly).
    Eos,
    /// No frame within the timeout; the source is still there.
    Timeout,
}

#[derive(Debug, Clone)]
pub struct SourceOptions {
    /// Pace a file at its native rate instead of decoding as fast as possible.
    pub realtime: bool,
}

/// A running camera pipeline. Dropping it stops the pipeline.
pub struct FrameSource {
    camera: String,
    pipeline: gst::Pipeline,
    sink: gst_app::AppSink,
    live: bool,
    started_at: DateTime<Utc>,
}

/// Initialise GStreamer once per process (idempotent).
pub fn init() -> Result<(), MediaError> {
    gst::init().map_err(|e| MediaError::Init(e.to_string()))
}

/// Turn what a user writes into a URI: a URI stays as it is, a file path becomes `file://`.
pub fn to_uri(camera: &str, source: &str) -> Result<String, MediaError> {
    if source.contains("://") {
        return Ok(source.to_string());
    }
    let path = Path::new(source);
    let abs = std::path::absolute(path).map_err(|e| MediaError::Source {
        camera: camera.into(),
        uri: source.into(),
        why: e.to_string(),
    })?;
    if !abs.exists() {
        return Err(MediaError::Source { camera: camera.into(), uri: source.into(), why: "no such file".into() });
    }
    gst::glib::filename_to_uri(&abs, None).map(|u| u.to_string()).map_err(|e| MediaError::Source {
        camera: camera.into(),
        uri: source.into(),
        why: e.to_string(),
    })
}

/// Whether frames come at the camera's pace (and capture time is the wall clock).
pub fn is_live_uri(uri: &str) -> bool {
    let scheme = uri.split(':').next().unwrap_or("").to_ascii_lowercase();
    matches!(scheme.as_str(), "rtsp" | "rtsps" | "rtspt" | "v4l2" | "http" | "https" | "udp" | "srt")
}

impl FrameSource {
    pub fn open(camera: &str, source: &str, opts: &SourceOptions) -> Result<Self, MediaError> {
        init()?;
        let uri = to_uri(camera, source)?;
        let live = is_live_uri(&uri);
        let build = |source| MediaError::Build { camera: camera.into(), source };
        let pipeline = gst::Pipeline::with_name(&format!("camera-{camera}"));
        let decode = gst::ElementFactory::make("uridecodebin").property("uri", &uri).build().map_err(build)?;
        // RTSP: interleaved over TCP (cameras behind NAT, lossy Wi-Fi), short timeouts so a dead
        // camera surfaces as an error the camera's watchdog acts on, little jitter buffering.
        decode.connect("source-setup", false, |args| {
            let src = args[1].get::<gst::Element>().ok()?;
            if src.has_property("protocols") && src.has_property("tcp-timeout") {
                src.set_property_from_str("protocols", "tcp");
                src.set_property("tcp-timeout", 5_000_000u64);
                src.set_property("latency", 200u32);
                if src.has_property("retry") {
                    src.set_property("retry", 5u32);
                }
            }
            None
        });
        let convert = gst::ElementFactory::make("videoconvert").build().map_err(build)?;
        let caps = gst::Caps::builder("video/x-raw").field("format", "RGB").build();
        let sink = gst_app::AppSink::builder()
            .name("frames")
            .caps(&caps)
            .sync(opts.realtime || live)
            .max_buffers(2)
            .drop(live)
            .build();
        pipeline.add_many([&decode, &convert, sink.upcast_ref()]).map_err(build)?;
        convert.link(&sink).map_err(build)?;
        let convert_weak = convert.downgrade();
        decode.connect_pad_added(move |_, pad| {
            let Some(convert) = convert_weak.upgrade() else { return };
            let is_video = pad
                .current_caps()
                .and_then(|c| c.structure(0).map(|s| s.name().starts_with("video/")))
                .unwrap_or(false);
            let Some(sink_pad) = convert.static_pad("sink") else { return };
            if is_video
                && !sink_pad.is_linked()
                && let Err(e) = pad.link(&sink_pad)
            {
                tracing::warn!(error = ?e, "could not link decoded video pad");
            }
        });
        pipeline.set_state(gst::State::Playing).map_err(|e| {
            let why = first_error(&pipeline).unwrap_or_else(|| e.to_string());
            let _ = pipeline.set_state(gst::State::Null);
            MediaError::Start { camera: camera.into(), why }
        })?;
        tracing::info!(camera, live, realtime = opts.realtime, "camera pipeline started");
        Ok(Self { camera: camera.into(), pipeline, sink, live, started_at: Utc::now() })
    }

    pub fn camera(&self) -> &str {
        &self.camera
    }

    pub fn is_live(&self) -> bool {
        self.live
    }

    /// Frames per second the stream declares, once it has negotiated.
    pub fn framerate(&self) -> Option<f64> {
        let caps = self.sink.static_pad("sink")?.current_caps()?;
        let fps = gst_video::VideoInfo::from_caps(&caps).ok()?.fps();
        (fps.numer() > 0 && fps.denom() > 0).then(|| fps.numer() as f64 / fps.denom() as f64)
    }

    /// Wait up to `timeout` for the next frame.
    pub fn next(&mut self, timeout: Duration) -> Result<Pulled, MediaError> {
        if let Some(err) = self.bus_error() {
            return Err(err);
        }
        let Some(sample) = self.sink.try_pull_sample(gst::ClockTime::from_nseconds(timeout.as_nanos() as u64)) else {
            if let Some(err) = self.bus_error() {
                return Err(err);
            }
            return Ok(if self.sink.is_eos() { Pulled::Eos } else { Pulled::Timeout });
        };
        self.to_frame(&sample).map(Pulled::Frame)
    }

    fn to_frame(&self, sample: &gst::Sample) -> Result<Frame, MediaError> {
        let layout = |why: String| MediaError::Layout { camera: self.camera.clone(), why };
        let caps = sample.caps().ok_or_else(|| layout("sample without caps".into()))?;
        let info = gst_video::VideoInfo::from_caps(caps).map_err(|e| layout(e.to_string()))?;
        let buffer = sample.buffer().ok_or_else(|| layout("sample without buffer".into()))?;
        let map = buffer.map_readable().map_err(|e| layout(e.to_string()))?;
        let (w, h) = (info.width() as usize, info.height() as usize);
        let stride = info.stride()[0] as usize;
        let row = w * 3;
        if stride < row || map.len() < stride * (h.saturating_sub(1)) + row {
            return Err(layout(format!("{w}x{h} stride {stride} in {} bytes", map.len())));
        }
        let mut rgb = Vec::with_capacity(row * h);
        for y in 0..h {
            rgb.extend_from_slice(&map[y * stride..y * stride + row]);
        }
        let pts_ns = buffer.pts().map(|t| t.nseconds()).unwrap_or(0);
        let captured_at =
            if self.live { Utc::now() } else { self.started_at + chrono::Duration::nanoseconds(pts_ns as i64) };
        Ok(Frame { camera: self.camera.clone(), pts_ns, captured_at, width: w as u32, height: h as u32, rgb })
    }

    fn bus_error(&self) -> Option<MediaError> {
        let bus = self.pipeline.bus()?;
        while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
            if let gst::MessageView::Error(err) = msg.view() {
                return Some(MediaError::Stream {
                    camera: self.camera.clone(),
                    element: err.src().map(|s| s.path_string().to_string()).unwrap_or_default(),
                    message: err.error().to_string(),
                    debug: err.debug().map(|d| d.to_string()),
                });
            }
        }
        None
    }
}

fn first_error(pipeline: &gst::Pipeline) -> Option<String> {
    let bus = pipeline.bus()?;
    let msg = bus.timed_pop_filtered(gst::ClockTime::from_mseconds(500), &[gst::MessageType::Error])?;
    match msg.view() {
        gst::MessageView::Error(err) => Some(err.error().to_string()),
        _ => None,
    }
}

impl Drop for FrameSource {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_sources_are_told_apart_from_files() {
        assert!(is_live_uri("rtsp://10.0.0.5/stream1"));
        assert!(is_live_uri("v4l2:///dev/video0"));
        assert!(!is_live_uri("file:///tmp/a.avi"));
    }

    #[test]
    fn a_missing_file_is_an_error_naming_the_camera() {
        let err = to_uri("cam9", "/nonexistent/clip.avi").unwrap_err();
        assert!(err.to_string().contains("cam9"), "{err}");
    }

    #[test]
    fn a_file_that_is_not_video_is_a_stream_error_not_a_panic() {
        let dir = std::env::temp_dir().join(format!("gw-media-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("garbage.avi");
        std::fs::write(&path, vec![0x5a; 4096]).unwrap();
        let result =
            FrameSource::open("cam1", path.to_str().unwrap(), &SourceOptions { realtime: false }).and_then(|mut s| {
                loop {
                    match s.next(Duration::from_secs(5))? {
                        Pulled::Timeout => continue,
                        other => break Ok(other),
                    }
                }
            });
        assert!(matches!(result, Err(MediaError::Start { .. } | MediaError::Stream { .. })), "{result:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
