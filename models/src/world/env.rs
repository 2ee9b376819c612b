//! `Catch`: the built-in environment of the world-model family. Fruit falls
//! from random columns at random moments and speeds; a paddle at the bottom
//! moves left or right to catch it. Observations are 64×64 RGB frames.
//!
//! * Actions: 0 left, 1 stay, 2 right (the paddle moves [`PADDLE_SPEED`]
//!   pixels); fed to the MDN-RNN one-hot, as 3 numbers ([`one_hot`]).
//! * Reward: +1 for a fruit caught, −1 for a fruit that reaches the bottom
//!   beside the paddle, 0 otherwise.
//! * Episode end: after [`MAX_MISSES`] misses, or at [`MAX_STEPS`] steps.
//! * Randomness: every step a new fruit appears with probability
//!   [`SPAWN_PROBABILITY`] (at most [`MAX_FRUIT`] at a time) in a uniformly
//!   random column with a random speed, so the next frame is multi-modal:
//!   a fruit may or may not appear, anywhere along the top.
//!
//! The gym-like interface is [`Env`]: `reset(seed) -> obs`,
//! `step(action) -> (obs, reward, done)`.

use ferrograd_nn::{Error, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Frame side in pixels.
pub const SIZE: usize = 64;
/// Number of discrete actions (left, stay, right).
pub const ACTIONS: usize = 3;
/// Pixels the paddle moves per step.
pub const PADDLE_SPEED: f32 = 4.0;
/// Paddle half-width in pixels.
pub const PADDLE_HALF: f32 = 7.0;
/// Top row of the paddle.
pub const PADDLE_TOP: f32 = 58.0;
/// Fruit radius in pixels.
pub const FRUIT_RADIUS: f32 = 4.0;
/// Chance per step that a fruit appears.
pub const SPAWN_PROBABILITY: f64 = 0.06;
/// At most this many fruit fall at once.
pub const MAX_FRUIT: usize = 3;
/// Misses that end an episode.
pub const MAX_MISSES: u32 = 3;
/// Steps after which an episode ends anyway.
pub const MAX_STEPS: usize = 300;

/// An RGB frame, `SIZE × SIZE × 3` bytes, row-major, row 0 at the top.
pub type Frame = Vec<u8>;

/// A gym-like environment with frames as observations.
pub trait Env {
    /// Starts an episode; returns its first frame.
    fn reset(&mut self, seed: u64) -> Frame;
    /// Takes `action` (below [`ACTIONS`]); returns the next frame, the
    /// reward and whether the episode has ended. Errors for a bad action or
    /// a step after the end.
    fn step(&mut self, action: usize) -> Result<(Frame, f32, bool)>;
}

/// A falling fruit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fruit {
    /// Centre column, pixels.
    pub x: f32,
    /// Centre row, pixels (grows downwards).
    pub y: f32,
    /// Rows per step.
    pub speed: f32,
}

/// The catch environment (see the module doc).
#[derive(Clone, Debug)]
pub struct Catch {
    rng: StdRng,
    /// Paddle centre column.
    pub paddle: f32,
    /// The fruit in the air.
    pub fruit: Vec<Fruit>,
    /// Misses so far.
    pub misses: u32,
    /// Steps taken in this episode.
    pub steps: usize,
    done: bool,
}

impl Default for Catch {
    fn default() -> Catch {
        let mut c = Catch {
            rng: StdRng::seed_from_u64(0),
            paddle: 0.0,
            fruit: Vec::new(),
            misses: 0,
            steps: 0,
            done: true,
        };
        c.reset(0);
        c
    }
}

impl Catch {
    fn spawn(&mut self) {
        let x = self
            .rng
            .random_range(FRUIT_RADIUS..SIZE as f32 - FRUIT_RADIUS);
        let speed = self.rng.random_range(1.0..2.5);
        self.fruit.push(Fruit {
            x,
            y: FRUIT_RADIUS,
            speed,
        });
    }

    /// Draws the current state.
    pub fn render(&self) -> Frame {
        let mut f = vec![0u8; SIZE * SIZE * 3];
        let mut put = |r: usize, c: usize, rgb: [u8; 3]| {
            let i = (r * SIZE + c) * 3;
            f[i..i + 3].copy_from_slice(&rgb);
        };
        for r in 0..SIZE {
            for c in 0..SIZE {
                put(r, c, [20, 24, 48]);
            }
        }
        for fr in &self.fruit {
            for r in 0..SIZE {
                for c in 0..SIZE {
                    let (dx, dy) = (c as f32 + 0.5 - fr.x, r as f32 + 0.5 - fr.y);
                    if dx * dx + dy * dy <= FRUIT_RADIUS * FRUIT_RADIUS {
                        put(r, c, [90, 220, 80]);
                    }
                }
            }
        }
        for r in PADDLE_TOP as usize..(PADDLE_TOP as usize + 3).min(SIZE) {
            for c in 0..SIZE {
                if (c as f32 + 0.5 - self.paddle).abs() <= PADDLE_HALF {
                    put(r, c, [235, 235, 235]);
                }
            }
        }
        // One red pixel column per miss at the top left, so the frame shows
        // how close the episode is to its end.
        for m in 0..self.misses as usize {
            for r in 0..3 {
                put(r, 1 + 2 * m, [220, 60, 60]);
            }
        }
        f
    }

    /// Whether the episode has ended.
    pub fn is_done(&self) -> bool {
        self.done
    }
}

impl Env for Catch {
    fn reset(&mut self, seed: u64) -> Frame {
        self.rng = StdRng::seed_from_u64(seed);
        self.paddle = self
            .rng
            .random_range(PADDLE_HALF..SIZE as f32 - PADDLE_HALF);
        self.fruit.clear();
        self.misses = 0;
        self.steps = 0;
        self.done = false;
        self.spawn();
        self.render()
    }

    fn step(&mut self, action: usize) -> Result<(Frame, f32, bool)> {
        if action >= ACTIONS {
            return Err(Error::Config(format!(
                "catch: action {action} is not one of 0 (left), 1 (stay), 2 (right)"
            )));
        }
        if self.done {
            return Err(Error::Config(
                "catch: the episode has ended; call reset first".into(),
            ));
        }
        let dx = (action as f32 - 1.0) * PADDLE_SPEED;
        self.paddle = (self.paddle + dx).clamp(PADDLE_HALF, SIZE as f32 - PADDLE_HALF);
        let mut reward = 0.0;
        let paddle = self.paddle;
        self.fruit.retain_mut(|f| {
            f.y += f.speed;
            if f.y + FRUIT_RADIUS < PADDLE_TOP {
                return true;
            }
            if (f.x - paddle).abs() <= PADDLE_HALF + FRUIT_RADIUS {
                reward += 1.0;
            } else {
                reward -= 1.0;
            }
            false
        });
        self.misses += (reward < 0.0) as u32 * (-reward) as u32;
        if self.fruit.len() < MAX_FRUIT && self.rng.random_bool(SPAWN_PROBABILITY) {
            self.spawn();
        }
        if self.fruit.is_empty() && self.rng.random_bool(0.5) {
            self.spawn();
        }
        self.steps += 1;
        self.done = self.misses >= MAX_MISSES || self.steps >= MAX_STEPS;
        Ok((self.render(), reward, self.done))
    }
}

/// The one-hot encoding of a discrete action, as the MDN-RNN's input.
pub fn one_hot(action: usize) -> [f32; ACTIONS] {
    let mut a = [0.0; ACTIONS];
    if action < ACTIONS {
        a[action] = 1.0;
    }
    a
}

/// A scripted policy that follows the lowest fruit (nearly perfect), with
/// probability `noise` of a random action instead: the data collector's
/// policy, so rollouts hold both good and bad play.
pub fn scripted_action(env: &Catch, noise: f64, rng: &mut impl Rng) -> usize {
    if rng.random_bool(noise.clamp(0.0, 1.0)) {
        return rng.random_range(0..ACTIONS);
    }
    match env
        .fruit
        .iter()
        .max_by(|a, b| a.y.total_cmp(&b.y))
        .map(|f| f.x - env.paddle)
    {
        Some(d) if d > PADDLE_SPEED / 2.0 => 2,
        Some(d) if d < -PADDLE_SPEED / 2.0 => 0,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_episode() {
        let run = |seed| {
            let mut e = Catch::default();
            let mut frames = vec![e.reset(seed)];
            let mut rewards = Vec::new();
            for t in 0..120 {
                let (f, r, done) = e.step(t % 3).unwrap();
                frames.push(f);
                rewards.push(r);
                if done {
                    break;
                }
            }
            (frames, rewards)
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5).0, run(6).0);
    }

    #[test]
    fn frames_show_the_paddle_and_the_fruit() {
        let mut e = Catch::default();
        let f = e.reset(1);
        assert_eq!(f.len(), SIZE * SIZE * 3);
        let px = |r: usize, c: usize| &f[(r * SIZE + c) * 3..(r * SIZE + c) * 3 + 3];
        assert_eq!(
            px(PADDLE_TOP as usize + 1, e.paddle as usize),
            [235, 235, 235]
        );
        let fr = e.fruit[0];
        assert_eq!(px(fr.y as usize, fr.x as usize), [90, 220, 80]);
    }

    #[test]
    fn the_paddle_moves_and_stays_inside() {
        let mut e = Catch::default();
        e.reset(2);
        for _ in 0..40 {
            if e.step(0).unwrap().2 {
                break;
            }
        }
        assert_eq!(e.paddle, PADDLE_HALF);
        assert!(e.step(3).is_err());
    }

    #[test]
    fn following_the_fruit_beats_standing_still() {
        let mut rng = StdRng::seed_from_u64(0);
        let (mut scripted, mut still) = (0.0, 0.0);
        for seed in 0..20 {
            let mut e = Catch::default();
            e.reset(seed);
            loop {
                let a = scripted_action(&e, 0.0, &mut rng);
                let (_, r, done) = e.step(a).unwrap();
                scripted += r;
                if done {
                    break;
                }
            }
            e.reset(seed);
            loop {
                let (_, r, done) = e.step(1).unwrap();
                still += r;
                if done {
                    break;
                }
            }
        }
        assert!(
            scripted > 0.0 && scripted > still + 20.0,
            "{scripted} vs {still}"
        );
    }

    #[test]
    fn episodes_end() {
        let mut e = Catch::default();
        e.reset(3);
        let mut n = 0;
        while !e.step(1).unwrap().2 {
            n += 1;
        }
        assert!(n < MAX_STEPS);
        assert!(e.misses >= MAX_MISSES);
        assert!(e.step(1).is_err());
    }
}
