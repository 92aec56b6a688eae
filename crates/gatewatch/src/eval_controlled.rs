//! `gatewatch eval make-controlled --out DIR`: controlled 16:9 clips with exact ground truth,
//! for what the dev clips lack — a person close to the camera and a parked car — in the
//! formats `gatewatch eval clips` reads (DIR/set.toml, counts.csv, dwell.csv, crossings.csv).
//!
//! Both are still views made from set-up's own media, so the truth is known by construction:
//! - `close_person.mp4`: vtest.avi frame 400 cropped to 16:9 around the one person in that
//!   corner (the Python reference, tests/fixtures/make_nanodet_reference.py, finds him at
//!   (679, 291)-(736, 405) and nothing else in the crop) and scaled 2.66x, so he stands 70 % of
//!   the picture's height: the squash a stretched 16:9 frame does to people seen close up.
//!   10 s; 1 person in every sample; one stay in the zone `plaza` (the whole view).
//! - `parked_car.mp4`: the parked-car photo (media/car-5AU5341.png) cropped to 16:9, 20 s; one
//!   stay of the middle car in the zone `kerb` around its wheels (the cars beside it, partly
//!   hidden, stand outside the zone and are not counted: the clip has no counts).
#![allow(clippy::print_stdout)] // a CLI command's report

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use gatewatch_media::{FrameSource, Pulled, SourceOptions};
use image::{RgbImage, imageops};

#[derive(Args)]
pub struct MakeControlled {
    /// Where the clips, ground truth and set file go (created).
    #[arg(long)]
    pub out: PathBuf,
    /// vtest.avi, as set-up fetched it.
    #[arg(long, default_value = "media/vtest.avi")]
    pub vtest: PathBuf,
    /// The parked-car photo, as set-up fetched it.
    #[arg(long, default_value = "media/car-5AU5341.png")]
    pub car: PathBuf,
}

const W: u32 = 768;
const H: u32 = 432;
const FPS: u32 = 10;
const PERSON_FRAME: u64 = 400;
/// The 16:9 crop of vtest frame 400 (x, y, width, height) around its person.
const PERSON_CROP: (u32, u32, u32, u32) = (479, 266, 289, 163);
const PERSON_S: u32 = 10;
const CAR_S: u32 = 20;

const SET: &str = r#"# Made by `gatewatch eval make-controlled`: controlled still views with exact ground truth
# (see crates/gatewatch/src/eval_controlled.rs).
dir = "."

[[clips]]
file = "close_person.mp4"
[[clips.zones]]
name = "plaza"
polygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
classes = ["person"]

[[clips]]
file = "parked_car.mp4"
[[clips.zones]]
name = "kerb"
polygon = [[0.25, 0.6], [0.7, 0.6], [0.7, 1.0], [0.25, 1.0]]
classes = ["car", "truck", "bus", "motorcycle"]
"#;

fn vtest_frame(path: &Path, index: u64) -> anyhow::Result<RgbImage> {
    let uri = path.to_str().context("vtest path is not UTF-8")?;
    let mut source = FrameSource::open("controlled", uri, &SourceOptions { realtime: false })?;
    let mut i = 0;
    loop {
        match source.next(Duration::from_secs(10))? {
            Pulled::Frame(f) if i == index => {
                return RgbImage::from_raw(f.width, f.height, f.rgb).context("frame size");
            }
            Pulled::Frame(_) => i += 1,
            Pulled::Timeout => continue,
            Pulled::Eos => anyhow::bail!("{} ended at frame {i}, before {index}", path.display()),
        }
    }
}

fn still(view: &RgbImage, seconds: u32) -> impl Iterator<Item = Vec<u8>> + '_ {
    (0..seconds * FPS).map(move |_| view.as_raw().clone())
}

pub fn run(args: MakeControlled) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let frame = vtest_frame(&args.vtest, PERSON_FRAME)?;
    let (x, y, w, h) = PERSON_CROP;
    anyhow::ensure!(
        frame.width() >= x + w && frame.height() >= y + h,
        "vtest frame is {}x{}",
        frame.width(),
        frame.height()
    );
    let person =
        imageops::resize(&imageops::crop_imm(&frame, x, y, w, h).to_image(), W, H, imageops::FilterType::Triangle);
    let photo = image::open(&args.car).with_context(|| format!("opening {}", args.car.display()))?.to_rgb8();
    let ch = photo.width() * 9 / 16;
    anyhow::ensure!(photo.height() >= ch, "the car photo is narrower than 16:9");
    let car = imageops::resize(
        &imageops::crop_imm(&photo, 0, (photo.height() - ch) / 2, photo.width(), ch).to_image(),
        W,
        H,
        imageops::FilterType::Triangle,
    );
    let frames =
        gatewatch_media::clip::write_mp4(&args.out.join("close_person.mp4"), W, H, FPS, still(&person, PERSON_S))?;
    let car_frames = gatewatch_media::clip::write_mp4(&args.out.join("parked_car.mp4"), W, H, FPS, still(&car, CAR_S))?;
    // The last frame is at (frames - 1) / fps.
    let person_end = frames.saturating_sub(1) as f64 / FPS as f64;
    let car_end = car_frames.saturating_sub(1) as f64 / FPS as f64;
    let mut counts = String::from("clip,t_s,persons,vehicles,notes\n");
    for t in 0..PERSON_S {
        counts.push_str(&format!("close_person.mp4,{t},1,0,the man from vtest frame 400\n"));
    }
    let dwell = format!(
        "clip,zone,object,class,enter_s,leave_s\nclose_person.mp4,plaza,p1,person,0,{person_end}\n\
         parked_car.mp4,kerb,v1,car,0,{car_end}\n"
    );
    for (name, text) in [
        ("set.toml", SET.to_string()),
        ("counts.csv", counts),
        ("dwell.csv", dwell),
        ("crossings.csv", "clip,line,t_s,class,direction\n".to_string()),
    ] {
        std::fs::write(args.out.join(name), text).with_context(|| format!("writing {name}"))?;
    }
    println!(
        "controlled clips in {}: `gatewatch eval clips --set {}`",
        args.out.display(),
        args.out.join("set.toml").display()
    );
    Ok(())
}
