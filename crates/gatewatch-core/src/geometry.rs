//! Boxes, points and polygons in pixel or normalised coordinates.

use serde::{Deserialize, Serialize};

/// An axis-aligned box, corners `(x1, y1)` top-left and `(x2, y2)` bottom-right.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

impl BBox {
    pub fn new(x1: f32, y1: f32, x2: f32, y2: f32) -> Self {
        Self { x1, y1, x2, y2 }
    }

    pub fn width(&self) -> f32 {
        (self.x2 - self.x1).max(0.0)
    }

    pub fn height(&self) -> f32 {
        (self.y2 - self.y1).max(0.0)
    }

    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    pub fn center(&self) -> Point {
        Point::new((self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0)
    }

    /// Where a person stands or a vehicle touches the ground: zones test this point.
    pub fn bottom_center(&self) -> Point {
        Point::new((self.x1 + self.x2) / 2.0, self.y2)
    }

    /// Intersection over union; 0 for disjoint or empty boxes.
    pub fn iou(&self, other: &BBox) -> f32 {
        let w = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let h = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let inter = w * h;
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }

    /// The share of this box's area that lies inside `other` (1 for an empty box).
    pub fn covered_by(&self, other: &BBox) -> f32 {
        let w = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let h = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        if self.area() <= 0.0 { 1.0 } else { w * h / self.area() }
    }

    /// Clamp into `[0, width] x [0, height]`.
    pub fn clamp_to(&self, width: f32, height: f32) -> BBox {
        BBox {
            x1: self.x1.clamp(0.0, width),
            y1: self.y1.clamp(0.0, height),
            x2: self.x2.clamp(0.0, width),
            y2: self.y2.clamp(0.0, height),
        }
    }

    /// Scale both axes (e.g. from model input size to frame size).
    pub fn scale(&self, sx: f32, sy: f32) -> BBox {
        BBox { x1: self.x1 * sx, y1: self.y1 * sy, x2: self.x2 * sx, y2: self.y2 * sy }
    }

    /// Move by `(dx, dy)`.
    pub fn shift(&self, dx: f32, dy: f32) -> BBox {
        BBox { x1: self.x1 + dx, y1: self.y1 + dy, x2: self.x2 + dx, y2: self.y2 + dy }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

impl Point {
    pub fn new(x: f32, y: f32) -> Self {
        Self { x, y }
    }
}

/// A closed polygon; the last point joins the first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Polygon(pub Vec<Point>);

impl Polygon {
    /// Even-odd ray casting. Points on an edge may fall either way.
    pub fn contains(&self, p: Point) -> bool {
        let pts = &self.0;
        if pts.len() < 3 {
            return false;
        }
        let mut inside = false;
        let mut j = pts.len() - 1;
        for i in 0..pts.len() {
            let (a, b) = (pts[i], pts[j]);
            if (a.y > p.y) != (b.y > p.y) && p.x < (b.x - a.x) * (p.y - a.y) / (b.y - a.y) + a.x {
                inside = !inside;
            }
            j = i;
        }
        inside
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_identical_disjoint_and_half_overlapping_boxes() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(a.iou(&BBox::new(20.0, 20.0, 30.0, 30.0)), 0.0);
        let half = BBox::new(5.0, 0.0, 15.0, 10.0);
        assert!((a.iou(&half) - 50.0 / 150.0).abs() < 1e-6);
        assert_eq!(BBox::new(1.0, 1.0, 1.0, 1.0).iou(&BBox::new(1.0, 1.0, 1.0, 1.0)), 0.0);
    }

    #[test]
    fn covered_share_of_a_box() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        assert_eq!(a.covered_by(&BBox::new(5.0, 0.0, 20.0, 10.0)), 0.5);
        assert_eq!(BBox::new(2.0, 2.0, 4.0, 4.0).covered_by(&a), 1.0);
        assert_eq!(a.covered_by(&BBox::new(20.0, 20.0, 30.0, 30.0)), 0.0);
    }

    #[test]
    fn polygon_contains_concave_shape() {
        // An L shape: the notch at the top right is outside.
        let l = Polygon(vec![
            Point::new(0.0, 0.0),
            Point::new(0.5, 0.0),
            Point::new(0.5, 0.5),
            Point::new(1.0, 0.5),
            Point::new(1.0, 1.0),
            Point::new(0.0, 1.0),
        ]);
        assert!(l.contains(Point::new(0.25, 0.25)));
        assert!(l.contains(Point::new(0.75, 0.75)));
        assert!(!l.contains(Point::new(0.75, 0.25)));
        assert!(!l.contains(Point::new(1.5, 0.5)));
        assert!(!Polygon(vec![Point::new(0.0, 0.0), Point::new(1.0, 1.0)]).contains(Point::new(0.5, 0.5)));
    }
}
