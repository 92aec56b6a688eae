//! Frame → model input: bilinear resize (half-pixel centres, like OpenCV's INTER_LINEAR) into
//! a planar BGR float tensor, normalised per channel. Writes into a caller-owned buffer so the
//! hot path allocates nothing per frame.

/// Per-channel normalisation in BGR order: `(value - mean) / std`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalize {
    pub mean_bgr: [f32; 3],
    pub std_bgr: [f32; 3],
}

/// NanoDet's normalisation (BGR order).
pub const NANODET: Normalize = Normalize { mean_bgr: [103.53, 116.28, 123.675], std_bgr: [57.375, 57.12, 58.395] };

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
    assert_eq!(src.len(), w * h * 3, "packed RGB");
    assert_eq!(out.len(), 3 * out_w * out_h, "output buffer");
    let xs = axis(w, out_w);
    let ys = axis(h, out_h);
    let plane = out_w * out_h;
    let scale: [f32; 3] = std::array::from_fn(|c| 1.0 / norm.std_bgr[c]);
    for (oy, &(y0, y1, fy)) in ys.iter().enumerate() {
        let r0 = &src[y0 * w * 3..(y0 + 1) * w * 3];
        let r1 = &src[y1 * w * 3..(y1 + 1) * w * 3];
        for (ox, &(x0, x1, fx)) in xs.iter().enumerate() {
            let i = oy * out_w + ox;
            for c in 0..3 {
                // Source channel c of RGB goes to plane 2 - c of BGR.
                let a = r0[x0 * 3 + c] as f32 * (1.0 - fx) + r0[x1 * 3 + c] as f32 * fx;
                let b = r1[x0 * 3 + c] as f32 * (1.0 - fx) + r1[x1 * 3 + c] as f32 * fx;
                let v = a * (1.0 - fy) + b * fy;
                let p = 2 - c;
                out[p * plane + i] = (v - norm.mean_bgr[p]) * scale[p];
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
        let norm = Normalize { mean_bgr: [0.0; 3], std_bgr: [1.0; 3] };
        rgb_to_bgr_planar(&src, 2, 1, 2, 1, &norm, &mut out);
        assert_eq!(out, [30.0, 60.0, 20.0, 50.0, 10.0, 40.0]);
    }

    #[test]
    fn downscale_by_two_averages_neighbours() {
        // 4x1 grey ramp to 2x1: half-pixel centres land between pixel pairs.
        let src: Vec<u8> = [0u8, 100, 200, 255].iter().flat_map(|&v| [v, v, v]).collect();
        let mut out = [0f32; 6];
        let norm = Normalize { mean_bgr: [0.0; 3], std_bgr: [1.0; 3] };
        rgb_to_bgr_planar(&src, 4, 1, 2, 1, &norm, &mut out);
        assert_eq!(&out[..2], &[50.0, 227.5]);
    }
}
