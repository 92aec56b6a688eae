//! Perspective rectification: the four corners of a plate to an upright rectangle.

use gatewatch_core::geometry::Point;

/// Grow a quad (top-left, top-right, bottom-right, bottom-left) by `pad` of its width and
/// height on every side.
pub fn pad_quad(q: [Point; 4], pad: f32) -> [Point; 4] {
    let [tl, tr, br, bl] = q;
    let w = ((tr.x - tl.x + br.x - bl.x) / 2.0, (tr.y - tl.y + br.y - bl.y) / 2.0);
    let h = ((bl.x - tl.x + br.x - tr.x) / 2.0, (bl.y - tl.y + br.y - tr.y) / 2.0);
    let m =
        |p: Point, sw: f32, sh: f32| Point::new(p.x + pad * (sw * w.0 + sh * h.0), p.y + pad * (sw * w.1 + sh * h.1));
    [m(tl, -1.0, -1.0), m(tr, 1.0, -1.0), m(br, 1.0, 1.0), m(bl, -1.0, 1.0)]
}

/// The homography taking the rectangle `(0,0)-(w,h)` corners to `quad` (TL, TR, BR, BL).
fn homography(w: f32, h: f32, quad: [Point; 4]) -> Option<[f64; 9]> {
    let src = [(0.0, 0.0), (w as f64, 0.0), (w as f64, h as f64), (0.0, h as f64)];
    // Solve A x = b for the 8 unknowns (h33 = 1), Gaussian elimination with pivoting.
    let mut a = [[0f64; 9]; 8];
    for i in 0..4 {
        let (x, y) = src[i];
        let (u, v) = (quad[i].x as f64, quad[i].y as f64);
        a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
        a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
    }
    for col in 0..8 {
        let pivot = (col..8).max_by(|&r, &s| a[r][col].abs().total_cmp(&a[s][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        let pivot_row = a[col];
        for (r, row) in a.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / pivot_row[col];
                for (x, p) in row.iter_mut().zip(pivot_row.iter()).skip(col) {
                    *x -= f * p;
                }
            }
        }
    }
    let x: Vec<f64> = (0..8).map(|i| a[i][8] / a[i][i]).collect();
    Some([x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], 1.0])
}

/// Sample `quad` of packed RGB `src` (`sw` x `sh`) into a `w` x `h` packed RGB picture.
pub fn warp(src: &[u8], sw: u32, sh: u32, quad: [Point; 4], w: u32, h: u32) -> Option<Vec<u8>> {
    let m = homography(w as f32, h as f32, quad)?;
    let (sw, sh) = (sw as usize, sh as usize);
    let mut out = vec![0u8; (w * h * 3) as usize];
    for y in 0..h as usize {
        for x in 0..w as usize {
            let (fx, fy) = (x as f64 + 0.5, y as f64 + 0.5);
            let d = m[6] * fx + m[7] * fy + m[8];
            let u = (m[0] * fx + m[1] * fy + m[2]) / d - 0.5;
            let v = (m[3] * fx + m[4] * fy + m[5]) / d - 0.5;
            let (u, v) = (u.clamp(0.0, (sw - 1) as f64), v.clamp(0.0, (sh - 1) as f64));
            let (x0, y0) = (u.floor() as usize, v.floor() as usize);
            let (x1, y1) = ((x0 + 1).min(sw - 1), (y0 + 1).min(sh - 1));
            let (ax, ay) = ((u - x0 as f64) as f32, (v - y0 as f64) as f32);
            for c in 0..3 {
                let p = |xx: usize, yy: usize| src[(yy * sw + xx) * 3 + c] as f32;
                let top = p(x0, y0) * (1.0 - ax) + p(x1, y0) * ax;
                let bottom = p(x0, y1) * (1.0 - ax) + p(x1, y1) * ax;
                out[(y * w as usize + x) * 3 + c] = (top * (1.0 - ay) + bottom * ay).round() as u8;
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_aligned_quad_is_a_crop() {
        // 8x4 picture whose red channel is the column index * 10.
        let src: Vec<u8> = (0..4).flat_map(|_| (0..8u8).flat_map(|x| [x * 10, 0, 0])).collect();
        let quad = [Point::new(2.0, 0.0), Point::new(6.0, 0.0), Point::new(6.0, 4.0), Point::new(2.0, 4.0)];
        let out = warp(&src, 8, 4, quad, 4, 4).unwrap();
        let row: Vec<u8> = out.chunks(3).take(4).map(|p| p[0]).collect();
        assert_eq!(row, vec![20, 30, 40, 50]);
    }

    #[test]
    fn padding_grows_the_quad() {
        let q = [Point::new(0.0, 0.0), Point::new(100.0, 0.0), Point::new(100.0, 20.0), Point::new(0.0, 20.0)];
        let p = pad_quad(q, 0.1);
        assert_eq!(p[0], Point::new(-10.0, -2.0));
        assert_eq!(p[2], Point::new(110.0, 22.0));
    }

    #[test]
    fn degenerate_quad_is_refused() {
        let q = [Point::new(1.0, 1.0); 4];
        assert!(warp(&[0; 12], 2, 2, q, 4, 4).is_none());
    }
}
