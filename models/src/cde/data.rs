//! Seeded conditional data sets: a 1-D feature f ~ U[0, 1] and a 2-D target
//! x drawn from p(x | f), with the true conditional log-density where it
//! has a closed form (so an evaluation can print the best NLL any model can
//! reach on the same test set).
//!
//! * **banana**: z₁, z₂ ~ N(0, 1); x₁ = z₁; x₂ = ½z₂ + κ(f)(z₁² − 1) with
//!   κ(f) = 0.2 + 1.8f. By change of variables (a shear, Jacobian 1),
//!   x₁ ~ N(0, 1) and x₂ | x₁ ~ N(κ(f)(x₁² − 1), ¼).
//! * **student-t**: a bivariate Student-t with ν(f) = 1.5 + 8.5f degrees of
//!   freedom, location 0 and scale matrix Σ = [[1, ½], [½, 1]], sampled as
//!   x = L z / √(g/ν) with z ~ N(0, I), g ~ χ²_ν and L = chol(Σ).
//! * **moons**: t ~ U[0, π]; with probability ½ each the upper moon
//!   (cos t, sin t) or the lower one (1 − cos t, ½ − sin t), plus isotropic
//!   Gaussian noise of standard deviation σ(f) = 0.05 + 0.25f. No closed-form
//!   density.
//!
//! Every row draws, in order, f (when the generator draws it) and then the
//! target's variates, from one `StdRng`; the same seed gives the same data on
//! every platform. Densities are computed in f64 from the f32 values stored
//! in the tensors, so they are the densities of the data as stored.

use ferrograd_nn::train::derive_seed;
use ferrograd_nn::{Error, Result};
use ferrograd_tensor::Tensor;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{ChiSquared, Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;
use std::fmt;
use std::str::FromStr;

/// Dimension of the target x of every data set here.
pub const DIM: usize = 2;

/// Dimension of the feature f.
pub const FEATURES: usize = 1;

/// Off-diagonal entry ρ of the student-t scale matrix Σ = [[1, ρ], [ρ, 1]].
pub const STUDENT_T_RHO: f64 = 0.5;

/// One of the three conditional data sets (names `banana`, `student-t`,
/// `moons` for [`FromStr`], [`fmt::Display`] and serde).
///
/// ```
/// use ferrograd_models::cde::data::Dataset;
/// let d: Dataset = "student-t".parse().unwrap();
/// assert_eq!(d, Dataset::StudentT);
/// let (x, f) = d.generate(8, 1);
/// assert_eq!((x.dims(), f.dims()), (&[8, 2][..], &[8, 1][..]));
/// assert_eq!(d.true_log_prob(&x, &f).unwrap().len(), 8);
/// assert!(Dataset::Moons.true_log_prob(&x, &f).is_none());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dataset {
    /// The conditional banana (curvature grows with f).
    Banana,
    /// The bivariate Student-t (heavy tails at small f).
    StudentT,
    /// Two noisy half-circles (noise grows with f).
    Moons,
}

impl Dataset {
    /// Every data set, in declaration order.
    pub const ALL: [Dataset; 3] = [Dataset::Banana, Dataset::StudentT, Dataset::Moons];

    /// The kebab-case name.
    pub fn name(&self) -> &'static str {
        match self {
            Dataset::Banana => "banana",
            Dataset::StudentT => "student-t",
            Dataset::Moons => "moons",
        }
    }

    /// Whether [`Dataset::true_log_prob`] is available.
    pub fn has_true_density(&self) -> bool {
        !matches!(self, Dataset::Moons)
    }

    /// One target row given the feature value `f`.
    fn draw(&self, f: f64, rng: &mut StdRng) -> [f64; 2] {
        match self {
            Dataset::Banana => {
                let z1: f64 = rng.sample(StandardNormal);
                let z2: f64 = rng.sample(StandardNormal);
                [z1, 0.5 * z2 + banana_kappa(f) * (z1 * z1 - 1.0)]
            }
            Dataset::StudentT => {
                let nu = student_t_nu(f);
                let z1: f64 = rng.sample(StandardNormal);
                let z2: f64 = rng.sample(StandardNormal);
                let g = ChiSquared::new(nu)
                    .expect("ν(f) > 0 for f in [0, 1]")
                    .sample(rng);
                let s = (nu / g).sqrt();
                let (l21, l22) = (STUDENT_T_RHO, (1.0 - STUDENT_T_RHO.powi(2)).sqrt());
                [s * z1, s * (l21 * z1 + l22 * z2)]
            }
            Dataset::Moons => {
                let t = rng.random::<f64>() * PI;
                let upper = rng.random::<bool>();
                let sigma = moons_sigma(f);
                let e1: f64 = rng.sample(StandardNormal);
                let e2: f64 = rng.sample(StandardNormal);
                let (c, s) = (t.cos(), t.sin());
                let (m1, m2) = if upper { (c, s) } else { (1.0 - c, 0.5 - s) };
                [m1 + sigma * e1, m2 + sigma * e2]
            }
        }
    }

    /// `n` rows with f ~ U[0, 1): `(x [n, 2], f [n, 1])`, seeded.
    pub fn generate(&self, n: usize, seed: u64) -> (Tensor, Tensor) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut xs = Vec::with_capacity(n * DIM);
        let mut fs = Vec::with_capacity(n);
        for _ in 0..n {
            let f = rng.random::<f32>();
            let x = self.draw(f as f64, &mut rng);
            fs.push(f);
            xs.extend(x.iter().map(|&v| v as f32));
        }
        (
            Tensor::from_vec(xs, &[n, DIM]).expect("n·2 values"),
            Tensor::from_vec(fs, &[n, FEATURES]).expect("n values"),
        )
    }

    /// One target row for each given feature value: `[features.len(), 2]`,
    /// seeded (samples of ground truth at fixed f, for plots and tests).
    pub fn sample_given(&self, features: &[f32], seed: u64) -> Tensor {
        let mut rng = StdRng::seed_from_u64(seed);
        let xs: Vec<f32> = features
            .iter()
            .flat_map(|&f| self.draw(f as f64, &mut rng))
            .map(|v| v as f32)
            .collect();
        Tensor::from_vec(xs, &[features.len(), DIM]).expect("n·2 values")
    }

    /// The true log p(x | f) of one point, in f64; `None` for moons.
    pub fn log_density(&self, x: [f64; 2], f: f64) -> Option<f64> {
        match self {
            Dataset::Banana => Some(banana_log_density(x, f)),
            Dataset::StudentT => Some(student_t_log_density(x, f)),
            Dataset::Moons => None,
        }
    }

    /// The true log p(x_i | f_i) of each row (`x [n, 2]`, `f [n, 1]`);
    /// `None` for moons.
    ///
    /// # Panics
    /// If the shapes are not `[n, 2]` and `[n, 1]`.
    pub fn true_log_prob(&self, x: &Tensor, f: &Tensor) -> Option<Vec<f32>> {
        if !self.has_true_density() {
            return None;
        }
        let n = x.dims().first().copied().unwrap_or(0);
        assert!(
            x.dims() == [n, DIM] && f.dims() == [n, FEATURES],
            "true_log_prob: x must be [n, 2] and f [n, 1], got {:?} and {:?}",
            x.dims(),
            f.dims()
        );
        let out = x
            .data()
            .chunks_exact(DIM)
            .zip(f.data())
            .map(|(x, &f)| {
                let x = [x[0] as f64, x[1] as f64];
                self.log_density(x, f as f64).expect("has a density") as f32
            })
            .collect();
        Some(out)
    }

    /// The true negative log-likelihood of a split, −mean log p(x | f)
    /// (accumulated in f64); `None` for moons.
    pub fn true_nll(&self, split: &Split) -> Option<f64> {
        let lp = self.true_log_prob(&split.x, &split.f)?;
        let n = lp.len().max(1) as f64;
        Some(-lp.iter().map(|&v| v as f64).sum::<f64>() / n)
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Dataset {
    type Err = Error;

    /// Parses `banana`, `student-t` or `moons` (case-insensitive; `student_t`
    /// and `studentt` are accepted too).
    fn from_str(s: &str) -> Result<Dataset> {
        match s.to_ascii_lowercase().as_str() {
            "banana" => Ok(Dataset::Banana),
            "student-t" | "student_t" | "studentt" => Ok(Dataset::StudentT),
            "moons" => Ok(Dataset::Moons),
            _ => Err(Error::Config(format!(
                "unknown data set '{s}': expected banana, student-t or moons"
            ))),
        }
    }
}

/// The banana's curvature κ(f) = 0.2 + 1.8f.
pub fn banana_kappa(f: f64) -> f64 {
    0.2 + 1.8 * f
}

/// The student-t degrees of freedom ν(f) = 1.5 + 8.5f.
pub fn student_t_nu(f: f64) -> f64 {
    1.5 + 8.5 * f
}

/// The moons' noise standard deviation σ(f) = 0.05 + 0.25f.
pub fn moons_sigma(f: f64) -> f64 {
    0.05 + 0.25 * f
}

/// log N(x₁; 0, 1) + log N(x₂; κ(x₁² − 1), ¼).
fn banana_log_density([x1, x2]: [f64; 2], f: f64) -> f64 {
    let r = (x2 - banana_kappa(f) * (x1 * x1 - 1.0)) / 0.5;
    -(2.0 * PI).ln() - 0.5f64.ln() - 0.5 * (x1 * x1 + r * r)
}

/// The bivariate t density, log Γ((ν+2)/2) − log Γ(ν/2) − log(νπ) − ½ log|Σ|
/// − ((ν+2)/2) log(1 + δ/ν) with δ = xᵀΣ⁻¹x. For dimension 2 the gamma
/// ratio is exactly ν/2 (Γ(a + 1) = aΓ(a)), which leaves
/// −log 2π − ½ log|Σ| − (ν/2 + 1) log(1 + δ/ν): no log-gamma needed.
fn student_t_log_density([x1, x2]: [f64; 2], f: f64) -> f64 {
    let nu = student_t_nu(f);
    let det = 1.0 - STUDENT_T_RHO * STUDENT_T_RHO;
    let delta = (x1 * x1 - 2.0 * STUDENT_T_RHO * x1 * x2 + x2 * x2) / det;
    -(2.0 * PI).ln() - 0.5 * det.ln() - (0.5 * nu + 1.0) * (delta / nu).ln_1p()
}

/// One split: targets `x [n, 2]` and features `f [n, 1]`.
#[derive(Clone, Debug)]
pub struct Split {
    /// Targets, `[n, 2]`.
    pub x: Tensor,
    /// Features, `[n, 1]`.
    pub f: Tensor,
}

impl Split {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.x.dims()[0]
    }

    /// Whether the split has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Sizes of the train / validation / test splits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitSizes {
    /// Training rows (default 20,000).
    pub train: usize,
    /// Validation rows (default 5,000).
    pub valid: usize,
    /// Test rows (default 5,000).
    pub test: usize,
}

impl Default for SplitSizes {
    fn default() -> Self {
        SplitSizes {
            train: 20_000,
            valid: 5_000,
            test: 5_000,
        }
    }
}

/// Fixed train / validation / test splits of one data set, made from one
/// seed: split `s` ∈ {`train`, `valid`, `test`} is generated with seed
/// `derive_seed(seed, s)`, so the splits are independent and each depends
/// only on the seed and its own size.
///
/// ```
/// use ferrograd_models::cde::data::{Dataset, SplitSizes, Splits};
/// let sizes = SplitSizes { train: 100, valid: 20, test: 30 };
/// let s = Splits::new(Dataset::Banana, sizes, 7);
/// assert_eq!((s.train.len(), s.valid.len(), s.test.len()), (100, 20, 30));
/// assert_eq!(s.test.x, Splits::new(Dataset::Banana, sizes, 7).test.x);
/// ```
#[derive(Clone, Debug)]
pub struct Splits {
    /// The data set.
    pub dataset: Dataset,
    /// Training split.
    pub train: Split,
    /// Validation split.
    pub valid: Split,
    /// Test split.
    pub test: Split,
}

impl Splits {
    /// The three splits of `dataset` with the given sizes, from `seed`.
    pub fn new(dataset: Dataset, sizes: SplitSizes, seed: u64) -> Splits {
        let make = |n: usize, stream: &str| {
            let (x, f) = dataset.generate(n, derive_seed(seed, stream));
            Split { x, f }
        };
        Splits {
            dataset,
            train: make(sizes.train, "train"),
            valid: make(sizes.valid, "valid"),
            test: make(sizes.test, "test"),
        }
    }

    /// The default sizes (20,000 / 5,000 / 5,000).
    pub fn with_defaults(dataset: Dataset, seed: u64) -> Splits {
        Splits::new(dataset, SplitSizes::default(), seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(x: &Tensor) -> ([f64; 2], [[f64; 2]; 2]) {
        let n = x.dims()[0] as f64;
        let rows: Vec<[f64; 2]> = x
            .data()
            .chunks_exact(2)
            .map(|r| [r[0] as f64, r[1] as f64])
            .collect();
        let mut m = [0.0; 2];
        for r in &rows {
            m[0] += r[0] / n;
            m[1] += r[1] / n;
        }
        let mut c = [[0.0; 2]; 2];
        for r in &rows {
            for i in 0..2 {
                for j in 0..2 {
                    c[i][j] += (r[i] - m[i]) * (r[j] - m[j]) / n;
                }
            }
        }
        (m, c)
    }

    /// ∫∫ p(x | f) dx over the product grid of midpoints `a × b` with
    /// weights `wa × wb`, and the grid's −∫ p log p.
    fn integrate(ds: Dataset, f: f64, a: &[(f64, f64)], b: &[(f64, f64)]) -> (f64, f64) {
        let (mut mass, mut neg_entropy) = (0.0, 0.0);
        for &(x1, w1) in a {
            for &(x2, w2) in b {
                let lp = ds.log_density([x1, x2], f).unwrap();
                let p = lp.exp() * w1 * w2;
                mass += p;
                neg_entropy += p * lp;
            }
        }
        (mass, -neg_entropy)
    }

    /// Midpoints and widths of `n` equal cells on `[lo, hi]`.
    fn uniform_grid(lo: f64, hi: f64, n: usize) -> Vec<(f64, f64)> {
        let h = (hi - lo) / n as f64;
        (0..n).map(|i| (lo + (i as f64 + 0.5) * h, h)).collect()
    }

    /// `n` cells uniform in u on `[−asinh(B), asinh(B)]`, mapped by
    /// x = sinh u (weight cosh u · du): fine near 0, wide in the tails.
    fn sinh_grid(b: f64, n: usize) -> Vec<(f64, f64)> {
        uniform_grid(-b.asinh(), b.asinh(), n)
            .into_iter()
            .map(|(u, h)| (u.sinh(), u.cosh() * h))
            .collect()
    }

    #[test]
    fn names_parse_and_print() {
        for d in Dataset::ALL {
            assert_eq!(d.to_string().parse::<Dataset>().unwrap(), d);
            let json = serde_json::to_string(&d).unwrap();
            assert_eq!(json, format!("\"{}\"", d.name()));
        }
        assert_eq!("Student_T".parse::<Dataset>().unwrap(), Dataset::StudentT);
        assert!("spiral".parse::<Dataset>().is_err());
    }

    #[test]
    fn generation_is_seeded_and_shaped() {
        for d in Dataset::ALL {
            let (x, f) = d.generate(500, 3);
            assert_eq!((x.dims(), f.dims()), (&[500, 2][..], &[500, 1][..]));
            assert_eq!(d.generate(500, 3).0, x);
            assert_ne!(d.generate(500, 4).0, x);
            assert!(f.data().iter().all(|&v| (0.0..1.0).contains(&v)));
            assert!(x.data().iter().all(|v| v.is_finite()));
        }
        let s = Splits::with_defaults(Dataset::Moons, 1);
        assert_eq!(
            (s.train.len(), s.valid.len(), s.test.len()),
            (20_000, 5_000, 5_000)
        );
        assert_ne!(s.train.x.narrow(0, 0, 5_000).unwrap(), s.valid.x);
        assert_ne!(s.valid.x, s.test.x);
    }

    #[test]
    fn sample_moments_match_the_definitions() {
        let n = 40_000;
        // Banana: E x = 0, Var x₁ = 1, Var x₂ = ¼ + 2 E[κ²] with
        // E[κ²] = 0.04 + 0.36 + 1.08 = 1.48; Cov(x₁, x₂) = E[κ] E[z₁³ − z₁] = 0.
        let (x, f) = Dataset::Banana.generate(n, 11);
        let (m, c) = moments(&x);
        let mf = f.data().iter().map(|&v| v as f64).sum::<f64>() / n as f64;
        assert!((mf - 0.5).abs() < 0.01, "{mf}");
        assert!(m[0].abs() < 0.02 && m[1].abs() < 0.05, "{m:?}");
        assert!((c[0][0] - 1.0).abs() < 0.03, "{c:?}");
        assert!((c[1][1] - 3.21).abs() < 0.15, "{c:?}");
        assert!(c[0][1].abs() < 0.05, "{c:?}");
        // Student-t at f = 1 (ν = 10): covariance ν/(ν − 2) Σ = 1.25 Σ.
        let x = Dataset::StudentT.sample_given(&vec![1.0; n], 12);
        let (m, c) = moments(&x);
        assert!(m[0].abs() < 0.02 && m[1].abs() < 0.02, "{m:?}");
        assert!(
            (c[0][0] - 1.25).abs() < 0.05 && (c[1][1] - 1.25).abs() < 0.05,
            "{c:?}"
        );
        assert!((c[0][1] - 0.625).abs() < 0.04, "{c:?}");
        // Moons: mean ½(0 + 1, 2/π + ½ − 2/π) = (½, ¼); at f = 0 the noise
        // is 0.05, so every point lies near one of the two unit half-circles.
        let (x, _) = Dataset::Moons.generate(n, 13);
        let (m, _) = moments(&x);
        assert!(
            (m[0] - 0.5).abs() < 0.01 && (m[1] - 0.25).abs() < 0.01,
            "{m:?}"
        );
        let x = Dataset::Moons.sample_given(&vec![0.0; 2_000], 14);
        for r in x.data().chunks_exact(2) {
            let (a, b) = (r[0] as f64, r[1] as f64);
            let upper = (a.hypot(b) - 1.0).abs();
            let lower = ((1.0 - a).hypot(0.5 - b) - 1.0).abs();
            assert!(upper.min(lower) < 0.3, "({a}, {b})");
        }
    }

    #[test]
    fn banana_density_integrates_to_one() {
        // x₁ ∈ [−7, 7] leaves 2.6e-12 of mass outside; x₂ covers
        // κ(x₁² − 1) ± 6·½ for κ ≤ 2.
        let a = uniform_grid(-7.0, 7.0, 1_400);
        let b = uniform_grid(-5.5, 100.0, 4_220);
        for f in [0.1, 0.5, 0.9] {
            let (mass, _) = integrate(Dataset::Banana, f, &a, &b);
            assert!((mass - 1.0).abs() < 1e-6, "f = {f}: {mass}");
        }
    }

    #[test]
    fn student_t_density_integrates_to_one_up_to_its_tails() {
        // Grid on the square [−B, B]²; for dimension 2, P(δ > r²) =
        // (1 + r²/ν)^(−ν/2) exactly (δ/2 ~ F(2, ν)). The square holds the
        // ellipse δ ≤ B² (unit marginal scales) and lies inside δ ≤ 4B² (its
        // corners), so its mass is within [1 − tail(B²), 1 − tail(4B²)];
        // we accept 1e-4 of quadrature error on top.
        let bound = 300.0;
        let g = sinh_grid(bound, 1_400);
        for f in [0.0, 0.1, 0.5, 0.9] {
            let nu = student_t_nu(f);
            let tail = |r2: f64| (1.0 + r2 / nu).powf(-nu / 2.0);
            let (lo, hi) = (1.0 - tail(bound * bound), 1.0 - tail(4.0 * bound * bound));
            let (mass, _) = integrate(Dataset::StudentT, f, &g, &g);
            assert!(
                mass > lo - 1e-4 && mass < hi + 1e-4,
                "f = {f} (ν = {nu}): {mass} not in [{lo}, {hi}] ± 1e-4"
            );
        }
    }

    #[test]
    fn mean_log_density_of_samples_is_minus_the_entropy() {
        let n = 40_000;
        // Banana: a shear of N(0, diag(1, ¼)), so H(x | f) = log(2πe) + log ½
        // for every f.
        let h_banana = (2.0 * PI).ln() + 1.0 + 0.5f64.ln();
        // Student-t (d = 2): H = log 2π + ½ log|Σ| + 1 + 2/ν, and over
        // f ~ U[0, 1]: E[2/ν(f)] = (2/8.5) ln(10/1.5).
        let h_t = |nu: f64| (2.0 * PI).ln() + 0.5 * 0.75f64.ln() + 1.0 + 2.0 / nu;
        let h_t_avg = h_t(f64::INFINITY) + 2.0 / 8.5 * (10.0f64 / 1.5).ln();
        let mean = |v: &[f32]| v.iter().map(|&a| a as f64).sum::<f64>() / v.len() as f64;
        for (ds, h) in [(Dataset::Banana, h_banana), (Dataset::StudentT, h_t_avg)] {
            let (x, f) = ds.generate(n, 21);
            let lp = mean(&ds.true_log_prob(&x, &f).unwrap());
            assert!((lp + h).abs() < 0.03, "{ds}: mean log p {lp}, −H {}", -h);
        }
        // The same at fixed f, against the grid's −∫ p log p (a second,
        // independent estimate of the entropy).
        let a = uniform_grid(-7.0, 7.0, 700);
        let b = uniform_grid(-5.5, 100.0, 2_110);
        let g = sinh_grid(300.0, 700);
        for f in [0.1f32, 0.9] {
            let fs = vec![f; n];
            let ft = Tensor::from_vec(fs.clone(), &[n, 1]).unwrap();
            for (ds, grid_a, grid_b) in [(Dataset::Banana, &a, &b), (Dataset::StudentT, &g, &g)] {
                let x = ds.sample_given(&fs, 22);
                let lp = mean(&ds.true_log_prob(&x, &ft).unwrap());
                let (_, h_grid) = integrate(ds, f as f64, grid_a, grid_b);
                let h_exact = match ds {
                    Dataset::Banana => h_banana,
                    _ => h_t(student_t_nu(f as f64)),
                };
                assert!(
                    (h_grid - h_exact).abs() < 1e-3,
                    "{ds} f = {f}: grid H {h_grid}"
                );
                assert!(
                    (lp + h_grid).abs() < 0.04,
                    "{ds} f = {f}: {lp} vs −{h_grid}"
                );
            }
        }
    }
}
