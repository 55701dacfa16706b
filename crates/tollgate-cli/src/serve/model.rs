//! The example API's "model": small, deterministic functions of the input
//! that exist to make the errors real, not to be a product.
//!
//! - A scan decodes a PNG or JPEG and measures its luminance: the mean is the
//!   brightness, the standard deviation the contrast. The confidence grows
//!   with the contrast, so a near-uniform image is a low-confidence result.
//! - A detection reads a session's frames (a timestamp and a brightness each)
//!   and scores how much the brightness varies between them.

use std::fmt;
use std::io::Cursor;

use zune_jpeg::JpegDecoder;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

/// The widest and tallest image the model reads, in pixels.
pub(crate) const MAX_SIDE: u32 = 4096;
/// The confidence below which a scan is `low_confidence`.
pub(crate) const CONFIDENCE_THRESHOLD: f64 = 0.6;
/// The contrast (standard deviation of the luminance, 0–127.5) at which the
/// confidence reaches 1.
const FULL_CONFIDENCE_CONTRAST: f64 = 40.0;

/// An image format the model reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
}

impl Format {
    /// The lowercase name: `png`, `jpeg`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Jpeg => "jpeg",
        }
    }

    /// The format of `bytes`, from their signature.
    fn sniff(bytes: &[u8]) -> Option<Format> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Format::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Format::Jpeg)
        } else {
            None
        }
    }
}

/// Why bytes are not an image the model can read: the `reason` detail of
/// `input_format_error`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ImageError {
    /// Neither a PNG nor a JPEG signature.
    NotAnImage,
    /// The signature is right, the rest does not decode.
    Corrupted(Format),
    /// Wider or taller than [`MAX_SIDE`], or empty.
    BadSize {
        /// The declared width.
        width: u32,
        /// The declared height.
        height: u32,
    },
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageError::NotAnImage => f.write_str("the data is neither a PNG nor a JPEG image"),
            ImageError::Corrupted(format) => write!(
                f,
                "the data starts like a {} image but does not decode",
                format.name().to_uppercase()
            ),
            ImageError::BadSize { width, height } => write!(
                f,
                "the image is {width}×{height} pixels; at most {MAX_SIDE}×{MAX_SIDE} and at least 1×1 are read"
            ),
        }
    }
}

/// What the model measured in an image.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Image {
    /// The format.
    pub(crate) format: Format,
    /// Width in pixels.
    pub(crate) width: u32,
    /// Height in pixels.
    pub(crate) height: u32,
    /// Mean luminance, 0–255.
    pub(crate) brightness: f64,
    /// Standard deviation of the luminance, 0–127.5.
    pub(crate) contrast: f64,
}

/// Running sums of luminance values, exact in integers.
#[derive(Default)]
struct Sums {
    n: u64,
    sum: u64,
    squares: u64,
}

impl Sums {
    fn add(&mut self, luma: u8) {
        let v = u64::from(luma);
        self.n += 1;
        self.sum += v;
        self.squares += v * v;
    }

    /// Mean and standard deviation.
    fn stats(&self) -> (f64, f64) {
        if self.n == 0 {
            return (0.0, 0.0);
        }
        let n = self.n as f64;
        let mean = self.sum as f64 / n;
        let variance = (self.squares as f64 / n - mean * mean).max(0.0);
        (mean, variance.sqrt())
    }
}

/// Rec. 601 luminance of an 8-bit RGB pixel.
fn luma(r: u8, g: u8, b: u8) -> u8 {
    let y = (299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b) + 500) / 1000;
    u8::try_from(y).unwrap_or(u8::MAX)
}

fn check_size(width: u32, height: u32) -> Result<(), ImageError> {
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(ImageError::BadSize { width, height });
    }
    Ok(())
}

/// Decodes a PNG or JPEG and measures it. CPU-bound: run it off the async
/// workers (`spawn_blocking`).
pub(crate) fn analyse(bytes: &[u8]) -> Result<Image, ImageError> {
    match Format::sniff(bytes) {
        Some(Format::Png) => analyse_png(bytes),
        Some(Format::Jpeg) => analyse_jpeg(bytes),
        None => Err(ImageError::NotAnImage),
    }
}

/// The most a PNG's decoder may allocate: rows of the widest image allowed,
/// many times over.
const PNG_MEMORY: usize = 4 << 20;

fn analyse_png(bytes: &[u8]) -> Result<Image, ImageError> {
    let corrupted = |_| ImageError::Corrupted(Format::Png);
    // Nothing but the pixels is read: a colour profile or text inflated
    // from a small chunk could otherwise take the decoder's 64 MiB default.
    let limits = png::Limits { bytes: PNG_MEMORY };
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(bytes), limits);
    decoder.set_ignore_iccp_chunk(true);
    decoder.set_ignore_text_chunk(true);
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let header = decoder.read_header_info().map_err(corrupted)?;
    check_size(header.width, header.height)?;
    let mut reader = decoder.read_info().map_err(corrupted)?;
    let (color, _) = reader.output_color_type();
    let channels = color.samples();
    let (width, height) = (reader.info().width, reader.info().height);
    let mut sums = Sums::default();
    // Row by row: memory stays one row, and the passes of an interlaced
    // image cover every pixel once, which is all the sums need.
    while let Some(row) = reader.next_row().map_err(corrupted)? {
        for pixel in row.data().chunks_exact(channels) {
            let y = match pixel {
                [gray] | [gray, _] => *gray,
                [r, g, b] | [r, g, b, _] => luma(*r, *g, *b),
                _ => return Err(ImageError::Corrupted(Format::Png)),
            };
            sums.add(y);
        }
    }
    let (brightness, contrast) = sums.stats();
    Ok(Image {
        format: Format::Png,
        width,
        height,
        brightness,
        contrast,
    })
}

fn analyse_jpeg(bytes: &[u8]) -> Result<Image, ImageError> {
    let corrupted = |_| ImageError::Corrupted(Format::Jpeg);
    // The decoder's own limits are opened to every size a JPEG can declare:
    // it refuses a size over them as a bare error, where `check_size` names
    // the size. Reading the headers allocates nothing by the size.
    let options = DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::Luma)
        .set_max_width(usize::from(u16::MAX))
        .set_max_height(usize::from(u16::MAX));
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    decoder.decode_headers().map_err(corrupted)?;
    let info = decoder.info().ok_or(ImageError::Corrupted(Format::Jpeg))?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    check_size(width, height)?;
    let pixels = decoder.decode().map_err(corrupted)?;
    let mut sums = Sums::default();
    for &y in &pixels {
        sums.add(y);
    }
    let (brightness, contrast) = sums.stats();
    Ok(Image {
        format: Format::Jpeg,
        width,
        height,
        brightness,
        contrast,
    })
}

/// Rounds to two decimals, as results are reported.
pub(crate) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The scan's result: a label and how confident the model is in it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Verdict {
    /// `dark`, `balanced` or `bright`.
    pub(crate) label: &'static str,
    /// 0–1, two decimals.
    pub(crate) confidence: f64,
}

impl Verdict {
    /// Whether the confidence clears [`CONFIDENCE_THRESHOLD`].
    pub(crate) fn is_confident(&self) -> bool {
        self.confidence >= CONFIDENCE_THRESHOLD
    }
}

/// Labels an image by its brightness; the confidence is its contrast.
pub(crate) fn classify(image: &Image) -> Verdict {
    let label = match image.brightness {
        b if b < 85.0 => "dark",
        b if b < 170.0 => "balanced",
        _ => "bright",
    };
    Verdict {
        label,
        confidence: round2((image.contrast / FULL_CONFIDENCE_CONTRAST).min(1.0)),
    }
}

/// A detection model: its name and the frames it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DetectionModel {
    /// `mixed-10-v2`.
    pub(crate) name: &'static str,
    /// The fewest frames it reads.
    pub(crate) min_frames: usize,
}

/// The detection models, the default first.
pub(crate) const DETECTION_MODELS: [DetectionModel; 2] = [
    DetectionModel {
        name: "mixed-10-v2",
        min_frames: 10,
    },
    DetectionModel {
        name: "mixed-30-v2",
        min_frames: 30,
    },
];

impl DetectionModel {
    /// The model named `name`.
    pub(crate) fn find(name: &str) -> Option<DetectionModel> {
        DETECTION_MODELS.iter().copied().find(|m| m.name == name)
    }

    /// The short name seed 004 prints in `insufficient_frames`: `10` for
    /// `mixed-10-v2`.
    pub(crate) fn short_name(self) -> &'static str {
        self.name.split('-').nth(1).unwrap_or(self.name)
    }
}

/// The brightness spread (standard deviation) at which a session scores 1.
const FULL_LIVENESS_SPREAD: f64 = 8.0;

/// A session's score, 0–1: how much the brightness varies between frames
/// (a still picture held to a camera hardly varies). Live at 0.5 and above.
pub(crate) fn liveness(brightness: &[f64]) -> (bool, f64) {
    if brightness.is_empty() {
        return (false, 0.0);
    }
    let n = brightness.len() as f64;
    let mean = brightness.iter().sum::<f64>() / n;
    let variance = brightness.iter().map(|b| (b - mean).powi(2)).sum::<f64>() / n;
    let score = round2((variance.sqrt() / FULL_LIVENESS_SPREAD).min(1.0));
    (score >= 0.5, score)
}

/// A PNG of `width`×`height` 8-bit gray pixels, `pixel(x, y)` each.
pub(crate) fn gray_png(width: u32, height: u32, pixel: impl Fn(u32, u32) -> u8) -> Vec<u8> {
    let mut out = Vec::new();
    let data: Vec<u8> = (0..height)
        .flat_map(|y| (0..width).map(move |x| (x, y)))
        .map(|(x, y)| pixel(x, y))
        .collect();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let written = encoder
        .write_header()
        .and_then(|mut writer| writer.write_image_data(&data));
    match written {
        Ok(()) => out,
        // Encoding into memory with a valid header cannot fail; an empty
        // result would be `input_format_error`, never a crash.
        Err(_) => Vec::new(),
    }
}

/// The example image of the API's documentation: an 8×8 checkerboard, which
/// scans with full confidence.
pub(crate) fn example_png() -> Vec<u8> {
    gray_png(8, 8, |x, y| if (x + y) % 2 == 0 { 32 } else { 224 })
}

#[cfg(test)]
mod tests {
    /// A colour profile that inflates to 32 MiB, in a chunk of 32 KiB, is
    /// not inflated: the whole decode stays under a few MiB.
    #[test]
    fn a_png_colour_profile_bomb_is_not_inflated() {
        use std::io::Write as _;
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..32 {
            zlib.write_all(&zeros).unwrap();
        }
        let mut data = b"x\0\0".to_vec();
        data.extend(zlib.finish().unwrap());
        let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
        chunk.extend_from_slice(b"iCCP");
        chunk.extend_from_slice(&data);
        let mut crc = flate2::Crc::new();
        crc.update(&chunk[4..]);
        chunk.extend_from_slice(&crc.sum().to_be_bytes());
        // After the signature (8 bytes) and IHDR (25).
        let mut bomb = example_png();
        bomb.splice(33..33, chunk);
        let (analysed, info) = {
            let mut analysed = None;
            let info = allocation_counter::measure(|| analysed = Some(analyse(&bomb)));
            (analysed.unwrap(), info)
        };
        assert_eq!(analysed.unwrap().width, 8);
        assert!(info.bytes_max < 4 << 20, "{info:?}");
    }

    use super::*;

    #[test]
    fn a_checkerboard_is_confident_and_a_flat_image_is_not() {
        let image = analyse(&example_png()).unwrap();
        assert_eq!(
            (image.format, image.width, image.height),
            (Format::Png, 8, 8)
        );
        assert_eq!(image.brightness, 128.0);
        assert_eq!(image.contrast, 96.0);
        let verdict = classify(&image);
        assert_eq!(verdict.label, "balanced");
        assert_eq!(verdict.confidence, 1.0);
        assert!(verdict.is_confident());

        let flat = analyse(&gray_png(16, 16, |x, _| 200 + (x % 2) as u8)).unwrap();
        let verdict = classify(&flat);
        assert_eq!(verdict.label, "bright");
        assert_eq!(verdict.confidence, 0.01);
        assert!(!verdict.is_confident());
    }

    #[test]
    fn colour_pngs_are_read_as_luminance() {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, 2, 1);
        encoder.set_color(png::ColorType::Rgba);
        let mut writer = encoder.write_header().unwrap();
        writer
            .write_image_data(&[255, 0, 0, 255, 0, 0, 255, 0])
            .unwrap();
        drop(writer);
        let image = analyse(&out).unwrap();
        // Red is 76, blue is 29.
        assert_eq!(image.brightness, 52.5);
        assert_eq!(classify(&image).label, "dark");
    }

    #[test]
    fn jpegs_are_read_as_luminance() {
        // Made with libjpeg's cjpeg: 32×32 colour checks, and a flat gray.
        let checks = analyse(include_bytes!("../../tests/data/checks.jpg")).unwrap();
        assert_eq!(
            (checks.format, checks.width, checks.height),
            (Format::Jpeg, 32, 32)
        );
        assert!(checks.contrast > 40.0, "{checks:?}");
        assert!(classify(&checks).is_confident());
        let flat = analyse(include_bytes!("../../tests/data/flat.jpg")).unwrap();
        assert!((flat.brightness - 180.0).abs() < 2.0, "{flat:?}");
        assert!(!classify(&flat).is_confident());
    }

    #[test]
    fn bad_input_is_named_never_a_panic() {
        assert_eq!(analyse(b""), Err(ImageError::NotAnImage));
        assert_eq!(analyse(b"GIF89a..."), Err(ImageError::NotAnImage));
        let png = example_png();
        // Cut in the signature, the header, before and inside the pixel data.
        for cut in [4, 8, 20, 33, 50] {
            assert!(analyse(&png[..cut]).is_err(), "cut at {cut}");
        }
        // Anywhere else: an answer, never a panic.
        for cut in 0..png.len() {
            let _ = analyse(&png[..cut]);
        }
        assert_eq!(
            analyse(b"\x89PNG\r\n\x1a\nnonsense"),
            Err(ImageError::Corrupted(Format::Png))
        );
        assert_eq!(
            analyse(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0]),
            Err(ImageError::Corrupted(Format::Jpeg))
        );
        let wide = gray_png(MAX_SIDE + 1, 1, |_, _| 0);
        assert_eq!(
            analyse(&wide),
            Err(ImageError::BadSize {
                width: MAX_SIDE + 1,
                height: 1
            })
        );
        for err in [
            ImageError::NotAnImage,
            ImageError::Corrupted(Format::Jpeg),
            ImageError::BadSize {
                width: 0,
                height: 3,
            },
        ] {
            assert!(!err.to_string().is_empty());
        }
    }

    /// `jpeg` with the size its start-of-frame declares replaced.
    fn declaring(jpeg: &[u8], width: u16, height: u16) -> Vec<u8> {
        let mut out = jpeg.to_vec();
        // SOF0 to SOF2: marker, length, precision, height, width.
        let sof = out
            .windows(2)
            .position(|m| m[0] == 0xFF && (0xC0..=0xC2).contains(&m[1]))
            .unwrap();
        out[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
        out[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
        out
    }

    #[test]
    fn an_oversized_jpeg_is_too_large_not_corrupted() {
        let checks = include_bytes!("../../tests/data/checks.jpg");
        assert_eq!(analyse(&declaring(checks, 32, 32)).unwrap().width, 32);
        for (width, height) in [(5000, 32), (32, 5000), (u16::MAX, u16::MAX)] {
            assert_eq!(
                analyse(&declaring(checks, width, height)),
                Err(ImageError::BadSize {
                    width: u32::from(width),
                    height: u32::from(height)
                }),
                "{width}×{height}"
            );
        }
    }

    #[test]
    fn models_and_liveness() {
        let model = DetectionModel::find("mixed-30-v2").unwrap();
        assert_eq!((model.min_frames, model.short_name()), (30, "30"));
        assert_eq!(DETECTION_MODELS[0].short_name(), "10");
        assert!(DetectionModel::find("mixed-99").is_none());
        assert_eq!(liveness(&[120.0; 10]), (false, 0.0));
        let varied: Vec<f64> = (0..10)
            .map(|i| if i % 2 == 0 { 100.0 } else { 120.0 })
            .collect();
        assert_eq!(liveness(&varied), (true, 1.0));
        assert_eq!(liveness(&[]), (false, 0.0));
    }

    /// Between still and fully live the score is the spread over 8: a
    /// spread of 4 is 0.5, live; of 2, 0.25, not.
    #[test]
    fn liveness_scores_the_spread_in_between() {
        let alternating = |low: f64, high: f64| -> Vec<f64> {
            (0..10)
                .map(|i| if i % 2 == 0 { low } else { high })
                .collect()
        };
        assert_eq!(liveness(&alternating(96.0, 104.0)), (true, 0.5));
        assert_eq!(liveness(&alternating(98.0, 102.0)), (false, 0.25));
    }

    /// Green weighs most in the luminance, as Rec. 601 has it.
    #[test]
    fn green_counts_in_the_luminance() {
        assert_eq!(luma(0, 255, 0), 150);
        assert_eq!(luma(255, 255, 255), 255);
        assert_eq!(luma(0, 0, 0), 0);
    }

    /// 1 to [`MAX_SIDE`] pixels each way are read; an empty side is refused.
    #[test]
    fn sizes_from_one_pixel_to_max_side_are_read() {
        assert_eq!(check_size(1, 1), Ok(()));
        assert_eq!(check_size(MAX_SIDE, MAX_SIDE), Ok(()));
        for (width, height) in [(0, 3), (3, 0), (0, 0), (MAX_SIDE + 1, 1), (1, MAX_SIDE + 1)] {
            assert_eq!(
                check_size(width, height),
                Err(ImageError::BadSize { width, height }),
                "{width}×{height}"
            );
        }
        let tall = analyse(&gray_png(1, MAX_SIDE, |_, _| 0)).unwrap();
        assert_eq!((tall.width, tall.height), (1, MAX_SIDE));
        let wide = analyse(&gray_png(MAX_SIDE, 1, |_, _| 0)).unwrap();
        assert_eq!((wide.width, wide.height), (MAX_SIDE, 1));
    }

    /// A mean of 85 is already balanced, and one of 170 already bright.
    #[test]
    fn labels_change_at_85_and_170() {
        let label = |brightness: f64| {
            let image = Image {
                format: Format::Png,
                width: 1,
                height: 1,
                brightness,
                contrast: 40.0,
            };
            classify(&image).label
        };
        assert_eq!(label(84.99), "dark");
        assert_eq!(label(85.0), "balanced");
        assert_eq!(label(169.99), "balanced");
        assert_eq!(label(170.0), "bright");
    }

    /// A confidence of [`CONFIDENCE_THRESHOLD`] is confident; just under
    /// it is `low_confidence`.
    #[test]
    fn the_threshold_itself_is_confident() {
        let verdict = |confidence| Verdict {
            label: "balanced",
            confidence,
        };
        assert!(verdict(CONFIDENCE_THRESHOLD).is_confident());
        assert!(!verdict(0.59).is_confident());
    }
}
