//! `gatewatch eval plates LABELS.csv`: plate reading measured against ground truth.
//!
//! The CSV has the columns of `plates-dev` (`file,plate_text,x1,y1,x2,y2,...`). Rows with a
//! box are full scenes (detect, rectify, read the most confident plate; detection recall is
//! counted at IoU >= 0.5); rows without are plate crops (read directly). The report is stable
//! text, so two runs can be diffed; only the timing line changes. An image is decoded by what
//! its bytes are, not its name; one that cannot be read is a miss with a warning.
#![allow(clippy::print_stdout)] // a CLI command's report

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use gatewatch_core::geometry::BBox;
use gatewatch_core::plate::edit_distance;
use gatewatch_vision::plates::{PlateReader, PpOcrReader, RetinaPlateFinder};

#[derive(Args)]
pub struct EvalPlates {
    /// labels.csv; image files are looked up beside it.
    pub labels: PathBuf,
    /// Read as the OCR gives it, without the Chinese plate grammar.
    #[arg(long)]
    pub no_grammar: bool,
    #[arg(long, default_value = "models/clp_det.onnx")]
    pub detector: PathBuf,
    #[arg(long, default_value = "models/ch_PP-OCRv4_rec_infer.onnx")]
    pub recogniser: PathBuf,
    /// Alphabet file for a recogniser without one inside (e.g. models/clp_dict.txt).
    #[arg(long)]
    pub recogniser_dict: Option<PathBuf>,
    #[arg(long, default_value = "models/onnxruntime/libonnxruntime.so")]
    pub onnxruntime: PathBuf,
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Scenes are scaled by this first (0.3: the plates of a far vehicle, as the edge sees them
    /// in a vehicle's picture); crops are read as they are.
    #[arg(long, default_value_t = 1.0)]
    pub shrink: f32,
    /// A scene where no plate was found is searched again at this zoom if its long side is at
    /// most 640 px (the edge's `[plates] second_zoom`; 1: never).
    #[arg(long, default_value_t = 2.0)]
    pub second_zoom: f32,
}

struct Row {
    file: String,
    truth: String,
    bbox: Option<BBox>,
}

fn parse_labels(path: &Path) -> anyhow::Result<Vec<Row>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().context("empty labels file")?.split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).with_context(|| format!("no column {name}"));
    let (file, plate, x1) = (col("file")?, col("plate_text")?, col("x1")?);
    let mut rows = Vec::new();
    for (n, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < header.len().min(x1 + 4) {
            bail!("{}:{}: {} columns", path.display(), n + 2, f.len());
        }
        let num = |i: usize| f[x1 + i].trim().parse::<f32>().ok();
        let bbox = match (num(0), num(1), num(2), num(3)) {
            (Some(a), Some(b), Some(c), Some(d)) => Some(BBox::new(a, b, c, d)),
            _ => None,
        };
        rows.push(Row { file: f[file].into(), truth: f[plate].into(), bbox });
    }
    Ok(rows)
}

/// An image as RGB, its format taken from its content: real photo sets hold PNGs named
/// `.jpg`.
fn load_rgb(path: &Path) -> anyhow::Result<image::RgbImage> {
    let reader = image::ImageReader::open(path).with_context(|| format!("opening {}", path.display()))?;
    let reader = reader.with_guessed_format().with_context(|| format!("reading {}", path.display()))?;
    Ok(reader.decode().with_context(|| format!("decoding {}", path.display()))?.to_rgb8())
}

pub fn run(args: EvalPlates) -> anyhow::Result<()> {
    let rows = parse_labels(&args.labels)?;
    let dir = args.labels.parent().unwrap_or(Path::new("."));
    let finder = RetinaPlateFinder::new(&args.detector, &args.onnxruntime, args.threads)?;
    let reader = PpOcrReader::new(&args.recogniser, &args.onnxruntime, args.threads, args.recogniser_dict.as_deref())?;
    let mut pipeline = PlateReader::new(finder, reader);
    pipeline.grammar = !args.no_grammar;
    pipeline.second_zoom = args.second_zoom;
    let shrink_ok = args.shrink > 0.0 && args.shrink <= 1.0;
    if !shrink_ok || !(1.0..=4.0).contains(&args.second_zoom) {
        bail!("--shrink must be within (0, 1] and --second-zoom within [1, 4]");
    }

    let (mut exact, mut chars_ok, mut chars_total, mut with_box, mut found) = (0, 0, 0, 0, 0);
    let mut misreads = Vec::new();
    let mut unreadable = 0;
    let start = Instant::now();
    for row in &rows {
        let img = match load_rgb(&dir.join(&row.file)) {
            Ok(img) => img,
            Err(e) => {
                // A broken file in a photo set is one miss, not the end of the evaluation.
                tracing::warn!(file = %row.file, error = %format!("{e:#}"), "image unreadable; counted as a miss");
                unreadable += 1;
                with_box += usize::from(row.bbox.is_some());
                chars_total += row.truth.chars().count();
                misreads.push(format!("  {:<18} want {:<10} got (unreadable image)", row.file, row.truth));
                continue;
            }
        };
        let (img, scale) = match row.bbox {
            Some(_) if args.shrink < 1.0 => {
                let (w, h) = img.dimensions();
                let (sw, sh) = (
                    ((w as f32 * args.shrink).round() as u32).max(1),
                    ((h as f32 * args.shrink).round() as u32).max(1),
                );
                (image::imageops::resize(&img, sw, sh, image::imageops::FilterType::Triangle), sw as f32 / w as f32)
            }
            _ => (img, 1.0),
        };
        let (w, h) = img.dimensions();
        let reading = match row.bbox {
            Some(truth_box) => {
                with_box += 1;
                let truth_box = truth_box.scale(scale, scale);
                let readings = pipeline.read_scene(img.as_raw(), w, h)?;
                if readings.iter().any(|r| r.plate.is_some_and(|p| p.bbox.iou(&truth_box) >= 0.5)) {
                    found += 1;
                }
                readings.into_iter().next()
            }
            None => Some(pipeline.read_plate(img.as_raw(), w, h)?),
        };
        let got = reading.map(|r| r.text).unwrap_or_default();
        let n = row.truth.chars().count();
        chars_total += n;
        chars_ok += n.saturating_sub(edit_distance(&row.truth, &got));
        if got == row.truth {
            exact += 1;
        } else {
            misreads.push(format!(
                "  {:<18} want {:<10} got {}",
                row.file,
                row.truth,
                if got.is_empty() { "-" } else { &got }
            ));
        }
    }
    let elapsed = start.elapsed();
    let pct = |a: usize, b: usize| if b == 0 { 0.0 } else { 100.0 * a as f64 / b as f64 };
    let n = rows.len();
    println!(
        "plates eval: {} ({n} images, grammar {})",
        args.labels.display(),
        if pipeline.grammar { "on" } else { "off" }
    );
    println!("exact match       {exact}/{n}  {:.1} %", pct(exact, n));
    println!("char accuracy     {chars_ok}/{chars_total}  {:.1} %", pct(chars_ok, chars_total));
    if with_box > 0 {
        println!("detection recall  {found}/{with_box}  {:.1} %  (IoU >= 0.5)", pct(found, with_box));
        let t = pipeline.timings;
        println!(
            "second look       {} of {} scenes searched again at zoom {}, a plate found in {}{}",
            t.second_looks,
            t.finds,
            pipeline.second_zoom,
            t.found_second,
            if args.shrink < 1.0 { format!(" (scenes shrunk to {})", args.shrink) } else { String::new() }
        );
    }
    if unreadable > 0 {
        println!("unreadable images {unreadable}/{n}  (counted as misses)");
    }
    let t = pipeline.timings;
    let ms = |d: std::time::Duration, k: usize| if k == 0 { 0.0 } else { d.as_secs_f64() * 1000.0 / k as f64 };
    println!(
        "ms per image      {:.1}  (detection {:.1}, recognition {:.1} per read)",
        ms(elapsed, n),
        ms(t.find, with_box),
        ms(t.read, t.reads as usize)
    );
    if !misreads.is_empty() {
        println!("misreads:");
        for m in misreads {
            println!("{m}");
        }
    }
    Ok(())
}
