//! Pictures of the world model: a real episode beside what the world model
//! dreams from the same first frame under the same actions, at two
//! temperatures (`dream.png`), and frames beside the VAE's reconstructions
//! (`recon.png`).

use super::dream::DreamEnv;
use super::env::{scripted_action, Catch, Env, SIZE};
use super::mdn_rnn::MdnRnn;
use super::vae::{frames_to_tensor, tensor_to_frames, ConvVae};
use ferrograd_autograd::{no_grad, Var};
use ferrograd_nn::{atomic, Error, Result};
use ferrograd_tensor::Tensor;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::path::Path;

/// Frames shown per row.
pub const COLUMNS: usize = 10;
/// Real steps between shown frames.
pub const EVERY: usize = 3;
const GAP: usize = 4;

/// Writes `path`: row 1 the real episode from `seed` (scripted policy),
/// rows 2 and 3 the dreams at `temperatures`, every [`EVERY`] steps.
pub fn dream_strip(
    path: &Path,
    vae: &ConvVae,
    rnn: &MdnRnn,
    seed: u64,
    temperatures: [f32; 2],
) -> Result<()> {
    let mut env = Catch::default();
    let mut frame = env.reset(seed);
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut real, mut actions) = (vec![frame.clone()], Vec::new());
    while actions.len() < COLUMNS * EVERY {
        let a = scripted_action(&env, 0.1, &mut rng);
        let (f, _, done) = env.step(a)?;
        actions.push(a);
        frame = f;
        real.push(frame.clone());
        if done {
            break;
        }
    }
    let mut rows = vec![real.iter().step_by(EVERY).cloned().collect::<Vec<_>>()];
    for &t in &temperatures {
        let mut d = DreamEnv::new(rnn, Some(vae), t);
        d.done_threshold = 2.0;
        d.reset_frame(&real[0], seed)?;
        let mut frames = vec![d.render()?];
        for &a in &actions {
            d.step(a)?;
            frames.push(d.render()?);
        }
        rows.push(frames.into_iter().step_by(EVERY).collect());
    }
    write_rows(path, &rows)
}

/// Writes `path`: row 1 up to [`COLUMNS`] of `frames`, row 2 the VAE's
/// reconstructions of them (decoded from the mean latent).
pub fn recon_strip(path: &Path, vae: &ConvVae, frames: &[&[u8]]) -> Result<()> {
    let shown = &frames[..frames.len().min(COLUMNS)];
    if shown.is_empty() {
        return Err(Error::Config("recon strip: no frames to show".into()));
    }
    let x = Var::constant(frames_to_tensor(shown)?);
    let recon = no_grad(|| -> Result<Tensor> {
        let e = vae.encode(&x)?;
        Ok(vae.decode(&e.mu)?.value().clone())
    })?;
    let rows = vec![
        shown.iter().map(|f| f.to_vec()).collect(),
        tensor_to_frames(&recon),
    ];
    write_rows(path, &rows)
}

/// Draws rows of frames with white gaps between them into a PNG.
fn write_rows(path: &Path, rows: &[Vec<Vec<u8>>]) -> Result<()> {
    let cols = rows[0].len();
    let (w, h) = (cols * (SIZE + GAP) + GAP, rows.len() * (SIZE + GAP) + GAP);
    let mut img = image::RgbImage::from_pixel(w as u32, h as u32, image::Rgb([255, 255, 255]));
    for (r, row) in rows.iter().enumerate() {
        for (c, f) in row.iter().take(cols).enumerate() {
            let (x0, y0) = (GAP + c * (SIZE + GAP), GAP + r * (SIZE + GAP));
            for (p, rgb) in f.chunks_exact(3).enumerate() {
                let (x, y) = (x0 + p % SIZE, y0 + p / SIZE);
                img.put_pixel(x as u32, y as u32, image::Rgb([rgb[0], rgb[1], rgb[2]]));
            }
        }
    }
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .map_err(|e| Error::Format {
            path: path.to_path_buf(),
            problem: format!("cannot encode the PNG: {e}"),
        })?;
    atomic::write_bytes(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_strip_has_three_rows_of_frames() {
        let (vae, rnn) = crate::world::tiny_models();
        let p = std::env::temp_dir().join(format!("ferrograd-dream-{}.png", std::process::id()));
        dream_strip(&p, &vae, &rnn, 3, [0.5, 1.5]).unwrap();
        let img = image::open(&p).unwrap().to_rgb8();
        assert_eq!(img.height() as usize, 3 * (SIZE + GAP) + GAP);
        assert!(img.width() as usize > SIZE);
        let frame = Catch::default().reset(1);
        recon_strip(&p, &vae, &[&frame, &frame, &frame]).unwrap();
        let img = image::open(&p).unwrap().to_rgb8();
        assert_eq!(img.height() as usize, 2 * (SIZE + GAP) + GAP);
        assert_eq!(img.width() as usize, 3 * (SIZE + GAP) + GAP);
        // The first row is the frame itself.
        let p0 = img.get_pixel(GAP as u32, GAP as u32).0;
        assert_eq!(p0.to_vec(), frame[..3].to_vec());
        assert!(recon_strip(&p, &vae, &[]).is_err());
        std::fs::remove_file(&p).unwrap();
    }
}
