//! Tiling a wide frame for a square detector input: small objects (people seen from high above,
//! far cars) get twice the pixels.
//!
//! A 16:9 frame letterboxed into a 416x416 input is scaled to 416x234: a 40 px person becomes
//! 22 px. Split into two overlapping squares (the frame's height on a side, one at each end),
//! each tile fills the input and the person keeps 38 px, at two inferences per frame. An object
//! wholly inside the overlap is found twice (NMS across the tiles keeps one); one that crosses
//! a tile's inner edge is cut there, and its two halves are joined ([`merge`]).
//!
//! Pure: the detector crops the tiles and runs the model; this module says where the tiles are
//! and merges what they found.

use crate::detection::Detection;
use crate::geometry::BBox;

/// Frames closer to square than this (long side over short; 4:3 is 1.33) are not tiled: the
/// tiles would be most of the frame, for twice the inference.
pub const MIN_ASPECT: f32 = 1.5;

/// A box touching a tile's inner edge within this share of the tile's side is cut there.
const EDGE: f32 = 0.01;

/// A cut box this much inside a box from the other tile is the same object, seen whole there.
const INSIDE: f32 = 0.8;

/// Two halves of a cut object overlap this much vertically (or horizontally for a tall frame).
const ACROSS: f32 = 0.5;

/// A tile: a rectangle of the frame, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl Tile {
    fn whole(width: u32, height: u32) -> Tile {
        Tile { x: 0, y: 0, width, height }
    }
}

/// The tiles of a `width` x `height` frame: the frame itself when `tiles` is 1 or the frame is
/// nearly square, else two squares of the short side's size, one at each end of the long side.
pub fn split(width: u32, height: u32, tiles: u32) -> Vec<Tile> {
    let (long, short) = (width.max(height), width.min(height));
    if tiles < 2 || short == 0 || (long as f32) < MIN_ASPECT * short as f32 {
        return vec![Tile::whole(width, height)];
    }
    let s = short;
    if width >= height {
        vec![Tile { x: 0, y: 0, width: s, height: s }, Tile { x: width - s, y: 0, width: s, height: s }]
    } else {
        vec![Tile { x: 0, y: 0, width: s, height: s }, Tile { x: 0, y: height - s, width: s, height: s }]
    }
}

/// Which of a box's sides lie on its tile's inner edges (where the tile ends inside the frame).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Cut {
    /// Left/top side on the tile's inner edge (the second tile's), right/bottom (the first's).
    low: bool,
    high: bool,
}

fn cut(b: &BBox, t: &Tile, frame_w: u32, frame_h: u32) -> Cut {
    let wide = t.height == frame_h && t.width < frame_w;
    let (lo, hi, side, start, end, frame) = if wide {
        (b.x1, b.x2, t.width as f32, t.x, t.x + t.width, frame_w)
    } else {
        (b.y1, b.y2, t.height as f32, t.y, t.y + t.height, frame_h)
    };
    let near = EDGE * side;
    Cut { low: start > 0 && lo <= start as f32 + near, high: end < frame && hi >= end as f32 - near }
}

/// Overlap of two intervals over their union.
fn overlap_1d(a0: f32, a1: f32, b0: f32, b1: f32) -> f32 {
    let inter = (a1.min(b1) - a0.max(b0)).max(0.0);
    let union = a1.max(b1) - a0.min(b0);
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// Detections of each tile (boxes already in frame pixels) merged into the frame's: an object
/// cut at the seam joined from its two halves, one seen by both tiles kept once (the higher
/// score, or the uncut view), then NMS at `iou` within each class group.
pub fn merge(per_tile: &[(Tile, Vec<Detection>)], frame_w: u32, frame_h: u32, iou: f32) -> Vec<Detection> {
    if per_tile.len() == 1 {
        return per_tile[0].1.clone();
    }
    let wide = frame_w >= frame_h;
    let mut all: Vec<(usize, Cut, Detection)> = per_tile
        .iter()
        .enumerate()
        .flat_map(|(i, (t, dets))| dets.iter().map(move |d| (i, cut(&d.bbox, t, frame_w, frame_h), *d)))
        .collect();

    // Join halves: a box of the first tile cut at its high edge with one of the second cut at
    // its low edge, same class group, each covering the whole overlap (an object crossing only
    // one tile edge is seen whole by the other tile) and overlapping across it.
    let (t0, t1) = (per_tile[0].0, per_tile[1].0);
    let near = EDGE * t0.width.min(t0.height) as f32;
    let spans = |a: &BBox, b: &BBox| {
        if wide {
            a.x1 <= t1.x as f32 + near
                && b.x2 >= (t0.x + t0.width) as f32 - near
                && overlap_1d(a.y1, a.y2, b.y1, b.y2) >= ACROSS
        } else {
            a.y1 <= t1.y as f32 + near
                && b.y2 >= (t0.y + t0.height) as f32 - near
                && overlap_1d(a.x1, a.x2, b.x1, b.x2) >= ACROSS
        }
    };
    let mut joined = vec![false; all.len()];
    let mut out = Vec::with_capacity(all.len());
    // Highest scores first, so each half joins its likeliest partner.
    all.sort_by(|a, b| b.2.score.total_cmp(&a.2.score));
    for i in 0..all.len() {
        // A left (or top) half: the first tile's box cut at its inner edge.
        if joined[i] || all[i].0 != 0 || !all[i].1.high {
            continue;
        }
        let a = all[i].2;
        let partner = (0..all.len()).find(|&j| {
            let (tj, cj, b) = &all[j];
            !joined[j] && *tj == 1 && cj.low && b.class.nms_group() == a.class.nms_group() && spans(&a.bbox, &b.bbox)
        });
        if let Some(j) = partner {
            let b = all[j].2;
            joined[i] = true;
            joined[j] = true;
            let bbox = BBox::new(
                a.bbox.x1.min(b.bbox.x1),
                a.bbox.y1.min(b.bbox.y1),
                a.bbox.x2.max(b.bbox.x2),
                a.bbox.y2.max(b.bbox.y2),
            );
            let best = if a.score >= b.score { a } else { b };
            out.push((false, Detection { bbox, ..best }));
        }
    }
    out.extend(all.iter().zip(&joined).filter(|(_, j)| !**j).map(|((_, c, d), _)| (c.low || c.high, *d)));

    // Once per object: greedy by score; a box overlapping a kept one of its group by more than
    // `iou` goes, and so does a cut box mostly inside a kept one (its whole view).
    out.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.score.total_cmp(&a.1.score)));
    let mut kept: Vec<Detection> = Vec::with_capacity(out.len());
    for (is_cut, d) in out {
        let dup = kept.iter().any(|k| {
            k.class.nms_group() == d.class.nms_group()
                && (k.bbox.iou(&d.bbox) > iou || (is_cut && d.bbox.covered_by(&k.bbox) >= INSIDE))
        });
        if !dup {
            kept.push(d);
        }
    }
    kept.sort_by(|a, b| b.score.total_cmp(&a.score));
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detection::ObjectClass;

    fn det(class: ObjectClass, score: f32, x1: f32, y1: f32, x2: f32, y2: f32) -> Detection {
        Detection { bbox: BBox::new(x1, y1, x2, y2), score, class }
    }

    #[test]
    fn a_wide_frame_is_two_squares_and_a_squarish_one_is_not_split() {
        assert_eq!(
            split(1920, 1080, 2),
            vec![Tile { x: 0, y: 0, width: 1080, height: 1080 }, Tile { x: 840, y: 0, width: 1080, height: 1080 }]
        );
        assert_eq!(split(432, 768, 2)[1], Tile { x: 0, y: 336, width: 432, height: 432 }, "portrait: top and bottom");
        assert_eq!(split(768, 576, 2), vec![Tile::whole(768, 576)], "4:3 is under MIN_ASPECT");
        assert_eq!(split(1920, 1080, 1), vec![Tile::whole(1920, 1080)]);
        assert_eq!(split(0, 0, 2), vec![Tile::whole(0, 0)]);
    }

    /// 768x432: tiles [0, 432) and [336, 768), overlap [336, 432).
    fn tiles() -> Vec<Tile> {
        split(768, 432, 2)
    }

    #[test]
    fn an_object_in_the_overlap_is_kept_once_and_its_cut_view_dropped() {
        let t = tiles();
        let person = det(ObjectClass::Person, 0.8, 350.0, 100.0, 380.0, 180.0);
        // The first tile sees the car whole (it ends at 430); the second sees it from 336 on: cut.
        let car_whole = det(ObjectClass::Car, 0.7, 300.0, 200.0, 420.0, 260.0);
        let car_cut = det(ObjectClass::Car, 0.6, 337.0, 200.0, 420.0, 261.0);
        let merged = merge(
            &[(t[0], vec![person, car_whole]), (t[1], vec![Detection { score: 0.75, ..person }, car_cut])],
            768,
            432,
            0.5,
        );
        assert_eq!(merged.len(), 2, "{merged:?}");
        assert_eq!(merged[0], person, "the higher score of the two views");
        assert_eq!(merged[1], car_whole, "the whole view, not the cut one");
    }

    #[test]
    fn an_object_across_the_seam_is_joined_from_its_halves() {
        let t = tiles();
        // A lorry from 200 to 600: the first tile sees 200..432, the second 336..600.
        let left = det(ObjectClass::Truck, 0.55, 200.0, 150.0, 431.0, 300.0);
        let right = det(ObjectClass::Car, 0.65, 337.0, 155.0, 600.0, 298.0);
        let far = det(ObjectClass::Car, 0.9, 600.0, 10.0, 700.0, 60.0);
        let merged = merge(&[(t[0], vec![left]), (t[1], vec![right, far])], 768, 432, 0.5);
        assert_eq!(merged.len(), 2, "{merged:?}");
        assert_eq!(merged[0], far);
        assert_eq!(merged[1].bbox, BBox::new(200.0, 150.0, 600.0, 300.0));
        assert_eq!((merged[1].class, merged[1].score), (ObjectClass::Car, 0.65));
        // A person is never joined with a car; two people side by side are two people.
        let p = det(ObjectClass::Person, 0.8, 400.0, 150.0, 431.0, 300.0);
        let q = det(ObjectClass::Person, 0.8, 337.0, 150.0, 370.0, 300.0);
        let merged = merge(&[(t[0], vec![p]), (t[1], vec![right, q])], 768, 432, 0.5);
        assert_eq!(merged.len(), 3, "{merged:?}");
    }

    #[test]
    fn one_tile_passes_through() {
        let d = vec![det(ObjectClass::Person, 0.5, 1.0, 1.0, 5.0, 9.0)];
        assert_eq!(merge(&[(Tile::whole(768, 576), d.clone())], 768, 576, 0.5), d);
    }
}
