//! Snapshots: a region of a frame, scaled to at most `max_side` and JPEG-encoded within a
//! byte budget (quality steps down until it fits). Snapshots are personal data: they travel
//! once per track and are never logged.

use gatewatch_core::config::SnapshotConfig;
use gatewatch_core::geometry::BBox;
use image::codecs::jpeg::JpegEncoder;
use image::{ImageBuffer, Rgb, imageops};

use crate::VisionError;

/// Crop `region` (grown by 15 % on each side) out of packed RGB `rgb` and keep it as raw RGB:
/// cheap enough to do whenever a track finds a better view, encoded only once at track end.
pub fn crop(rgb: &[u8], width: u32, height: u32, region: &BBox) -> Option<(u32, u32, Vec<u8>)> {
    let (mx, my) = (region.width() * 0.15, region.height() * 0.15);
    let r =
        BBox::new(region.x1 - mx, region.y1 - my, region.x2 + mx, region.y2 + my).clamp_to(width as f32, height as f32);
    let (x0, y0) = (r.x1 as u32, r.y1 as u32);
    let (x1, y1) = ((r.x2.ceil() as u32).min(width), (r.y2.ceil() as u32).min(height));
    if x1 <= x0 + 1 || y1 <= y0 + 1 || rgb.len() != (width * height * 3) as usize {
        return None;
    }
    let (cw, ch) = (x1 - x0, y1 - y0);
    let mut out = Vec::with_capacity((cw * ch * 3) as usize);
    for y in y0..y1 {
        let start = ((y * width + x0) * 3) as usize;
        out.extend_from_slice(&rgb[start..start + (cw * 3) as usize]);
    }
    Some((cw, ch, out))
}

/// Scale to `max_side` and encode; returns `(width, height, jpeg bytes)`.
pub fn encode(width: u32, height: u32, rgb: Vec<u8>, cfg: &SnapshotConfig) -> Result<(u32, u32, Vec<u8>), VisionError> {
    let img: ImageBuffer<Rgb<u8>, Vec<u8>> = ImageBuffer::from_raw(width, height, rgb)
        .ok_or_else(|| VisionError::Snapshot(format!("{width}x{height} buffer has the wrong size")))?;
    let longest = width.max(height);
    let img = if longest > cfg.max_side {
        let s = cfg.max_side as f32 / longest as f32;
        let (w, h) = (((width as f32 * s) as u32).max(1), ((height as f32 * s) as u32).max(1));
        imageops::resize(&img, w, h, imageops::FilterType::Triangle)
    } else {
        img
    };
    let mut quality = cfg.quality;
    loop {
        let mut bytes = Vec::new();
        JpegEncoder::new_with_quality(&mut bytes, quality)
            .encode_image(&img)
            .map_err(|e| VisionError::Snapshot(e.to_string()))?;
        if bytes.len() <= cfg.max_bytes {
            return Ok((img.width(), img.height(), bytes));
        }
        if quality <= 20 {
            return Err(VisionError::Snapshot(format!(
                "{} bytes at quality {quality}, over {}",
                bytes.len(),
                cfg.max_bytes
            )));
        }
        quality -= 15;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_scale_and_encode_within_budget() {
        let (w, h) = (200u32, 100u32);
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect(); // noisy: hard to compress
        let (cw, ch, raw) = crop(&rgb, w, h, &BBox::new(50.0, 10.0, 150.0, 90.0)).unwrap();
        assert_eq!((cw, ch), (130, 100)); // 100x80 grown by 15 % per side, clamped to the frame
        let cfg = SnapshotConfig { max_side: 64, quality: 90, max_bytes: 4096, ..Default::default() };
        let (sw, sh, jpeg) = encode(cw, ch, raw, &cfg).unwrap();
        assert_eq!((sw, sh), (64, 49));
        assert!(jpeg.len() <= 4096 && jpeg.starts_with(&[0xff, 0xd8]));
        let decoded = image::load_from_memory(&jpeg).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (64, 49));
    }

    #[test]
    fn degenerate_regions_give_no_crop() {
        let rgb = vec![0u8; 10 * 10 * 3];
        assert!(crop(&rgb, 10, 10, &BBox::new(50.0, 50.0, 60.0, 60.0)).is_none());
        assert!(crop(&rgb[..5], 10, 10, &BBox::new(1.0, 1.0, 8.0, 8.0)).is_none());
    }
}
