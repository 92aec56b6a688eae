//! Frame → model input: bilinear resize (half-pixel centres, like OpenCV's INTER_LINEAR) into
//! a planar BGR float tensor, normalised per channel, either filling the input or letterboxed
//! into it (`gatewatch_core::fit`). Writes into a caller-owned buffer: the input tensor is not
//! allocated per frame.

use gatewatch_core::fit::Fit;

/// Per-channel normalisation, `(value - mean) / std`, means and deviations given per channel
/// in BGR order; planes written BGR (OpenCV-trained models) or RGB; padding of `pad` (a raw
/// 0..255 value) where the frame does not fill the input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalize {
    pub mean_bgr: [f32; 3],
    pub std_bgr: [f32; 3],
    pub rgb_planes: bool,
    pub pad: f32,
}

impl Normalize {
    /// BGR planes, black padding.
    pub const fn bgr(mean_bgr: [f32; 3], std_bgr: [f32; 3]) -> Normalize {
        Normalize { mean_bgr, std_bgr, rgb_planes: false, pad: 0.0 }
    }
}

/// NanoDet's normalisation (BGR order).
pub const NANODET: Normalize = Normalize::bgr([103.53, 116.28, 123.675], [57.375, 57.12, 58.395]);

/// Ultralytics YOLO: RGB planes scaled to 0..1, grey (114) padding.
pub const YOLO: Normalize = Normalize { mean_bgr: [0.0; 3], std_bgr: [255.0; 3], rgb_planes: true, pad: 114.0 };

/// Resize packed RGB `src` (`w` x `h`) to `out_w` x `out_h` and write NCHW BGR floats into `out`
/// (`3 * out_w * out_h` values).
pub fn rgb_to_bgr_planar(
    src: &[u8],
    w: usize,
    h: usize,
    out_w: usize,
    out_h: usize,
    norm: &Normalize,
    out: &mut [f32],
) {
    let fill = Fit { x: 0, y: 0, width: out_w, height: out_h, frame_w: w as u32, frame_h: h as u32 };
    fit_to_bgr_planar(src, &fill, out_w, out_h, norm, out);
}

/// Resize packed RGB `src` (`fit.frame_w` x `fit.frame_h`) into the rectangle `fit` of an
/// `out_w` x `out_h` input and write NCHW BGR floats into `out` (`3 * out_w * out_h` values);
/// the rest of the input is black, normalised.
pub fn fit_to_bgr_planar(src: &[u8], fit: &Fit, out_w: usize, out_h: usize, norm: &Normalize, out: &mut [f32]) {
    let (w, h) = (fit.frame_w as usize, fit.frame_h as usize);
    assert_eq!(src.len(), w * h * 3, "packed RGB");
    assert_eq!(out.len(), 3 * out_w * out_h, "output buffer");
    assert!(fit.x + fit.width <= out_w && fit.y + fit.height <= out_h, "fit inside the input");
    let plane = out_w * out_h;
    let scale: [f32; 3] = std::array::from_fn(|c| 1.0 / norm.std_bgr[c]);
    // Plane of source RGB channel c, whose BGR index is 2 - c.
    let plane_of = |c: usize| if norm.rgb_planes { c } else { 2 - c };
    if fit.width < out_w || fit.height < out_h {
        for c in 0..3 {
            let (p, b) = (plane_of(c), 2 - c);
            let black = (norm.pad - norm.mean_bgr[b]) * scale[b];
            let rows = &mut out[p * plane..(p + 1) * plane];
            rows[..fit.y * out_w].fill(black);
            rows[(fit.y + fit.height) * out_w..].fill(black);
            for row in rows.chunks_exact_mut(out_w).skip(fit.y).take(fit.height) {
                row[..fit.x].fill(black);
                row[fit.x + fit.width..].fill(black);
            }
        }
    }
    let xs = axis(w, fit.width);
    let ys = axis(h, fit.height);
    for (oy, &(y0, y1, fy)) in ys.iter().enumerate() {
        let r0 = &src[y0 * w * 3..(y0 + 1) * w * 3];
        let r1 = &src[y1 * w * 3..(y1 + 1) * w * 3];
        for (ox, &(x0, x1, fx)) in xs.iter().enumerate() {
            let i = (fit.y + oy) * out_w + fit.x + ox;
            for c in 0..3 {
                let a = r0[x0 * 3 + c] as f32 * (1.0 - fx) + r0[x1 * 3 + c] as f32 * fx;
                let b = r1[x0 * 3 + c] as f32 * (1.0 - fx) + r1[x1 * 3 + c] as f32 * fx;
                let v = a * (1.0 - fy) + b * fy;
                let k = 2 - c;
                out[plane_of(c) * plane + i] = (v - norm.mean_bgr[k]) * scale[k];
            }
        }
    }
}

/// For each output index: the two source indices and the weight of the second.
fn axis(src: usize, dst: usize) -> Vec<(usize, usize, f32)> {
    let ratio = src as f32 / dst as f32;
    (0..dst)
        .map(|d| {
            let s = ((d as f32 + 0.5) * ratio - 0.5).max(0.0);
            let i0 = (s.floor() as usize).min(src - 1);
            let i1 = (i0 + 1).min(src - 1);
            (i0, i1, s - i0 as f32)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_size_keeps_pixels_and_swaps_to_bgr() {
        let src = [10u8, 20, 30, 40, 50, 60]; // two RGB pixels
        let mut out = [0f32; 6];
        let norm = Normalize::bgr([0.0; 3], [1.0; 3]);
        rgb_to_bgr_planar(&src, 2, 1, 2, 1, &norm, &mut out);
        assert_eq!(out, [30.0, 60.0, 20.0, 50.0, 10.0, 40.0]);
    }

    #[test]
    fn letterbox_pads_with_normalised_black_and_keeps_the_picture_whole() {
        // A 4x2 white frame into a 4x4 input: one black row above it, one below.
        let src = vec![255u8; 4 * 2 * 3];
        let norm = Normalize::bgr([100.0; 3], [2.0; 3]);
        let fit = Fit::new(gatewatch_core::fit::Resize::Letterbox, 4, 2, 4, 4);
        assert_eq!((fit.x, fit.y, fit.width, fit.height), (0, 1, 4, 2));
        let mut out = vec![f32::NAN; 3 * 16];
        fit_to_bgr_planar(&src, &fit, 4, 4, &norm, &mut out);
        for p in 0..3 {
            let plane = &out[p * 16..(p + 1) * 16];
            assert!(plane[..4].iter().chain(&plane[12..]).all(|&v| v == -50.0), "{plane:?}");
            assert!(plane[4..12].iter().all(|&v| v == 77.5), "{plane:?}");
        }
    }

    /// YOLO's input: RGB planes in 0..1, grey padding of 114.
    #[test]
    fn yolo_input_is_rgb_in_unit_range_padded_grey() {
        let src = [255u8, 0, 51]; // one red-ish pixel
        let fit = Fit::new(gatewatch_core::fit::Resize::Letterbox, 1, 1, 1, 1);
        let mut out = [0f32; 3];
        fit_to_bgr_planar(&src, &fit, 1, 1, &YOLO, &mut out);
        assert!(out.iter().zip([1.0, 0.0, 0.2]).all(|(a, b)| (a - b).abs() < 1e-6), "{out:?}");
        // A 2x1 frame into 2x2: the row below (or above) is 114 / 255 in every plane.
        let fit = Fit::new(gatewatch_core::fit::Resize::Letterbox, 2, 1, 2, 2);
        let mut out = [f32::NAN; 12];
        fit_to_bgr_planar(&[0u8; 6], &fit, 2, 2, &YOLO, &mut out);
        let grey = 114.0 / 255.0;
        assert_eq!(out.iter().filter(|&&v| (v - grey).abs() < 1e-6).count(), 6, "{out:?}");
        assert_eq!(out.iter().filter(|&&v| v == 0.0).count(), 6);
    }

    #[test]
    fn downscale_by_two_averages_neighbours() {
        // 4x1 grey ramp to 2x1: half-pixel centres land between pixel pairs.
        let src: Vec<u8> = [0u8, 100, 200, 255].iter().flat_map(|&v| [v, v, v]).collect();
        let mut out = [0f32; 6];
        let norm = Normalize::bgr([0.0; 3], [1.0; 3]);
        rgb_to_bgr_planar(&src, 4, 1, 2, 1, &norm, &mut out);
        assert_eq!(&out[..2], &[50.0, 227.5]);
    }
}
