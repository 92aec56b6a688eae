//! Real plate models on a real photo: the car in fast-alpr's sample picture (PyPI
//! `fast-alpr==0.4.0`, fetched by deploy/setup.sh) carries the Czech plate 5AU5341.

use gatewatch_systests::asset;
use gatewatch_vision::plates::{PlateReader, PpOcrReader, RetinaPlateFinder};

#[test]
fn reads_the_czech_plate_in_the_sample_photo() {
    let runtime = asset("models/onnxruntime/libonnxruntime.so");
    let mut finder = RetinaPlateFinder::new(&asset("models/clp_det.onnx"), &runtime, 2).unwrap();
    // A European plate on a photo this detector was not trained for scores about 0.6.
    finder.score_threshold = 0.5;
    let reader = PpOcrReader::new(&asset("models/ch_PP-OCRv4_rec_infer.onnx"), &runtime, 2, None).unwrap();
    let mut plates = PlateReader::new(finder, reader);
    let img = image::open(asset("media/car-5AU5341.png")).unwrap().to_rgb8();
    let (w, h) = img.dimensions();
    let readings = plates.read_scene(img.as_raw(), w, h).unwrap();
    assert!(!readings.is_empty(), "no plate found");
    let best = &readings[0];
    assert_eq!(best.text, "5AU5341", "{readings:#?}");
    assert_eq!(best.valid, None, "not a Chinese plate: passed through as read");
    assert!(best.confidence > 0.8, "{best:?}");
    let b = best.plate.unwrap().bbox;
    assert!(b.width() > 20.0 && b.width() < w as f32 / 2.0, "{b:?}");
}
