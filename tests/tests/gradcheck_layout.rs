//! Property-based gradient checks of the data-movement primitives: reshape,
//! permute, transpose, broadcast_to, sum_to, unsqueeze, squeeze, narrow,
//! pad_axis, concat, stack, index_select (repeated indices), index_add,
//! gather, scatter_add, tril, triu (random diagonal offsets), diagonal and
//! diag_embed. Shapes have rank 0–3 (where the op allows) and sizes 1–4;
//! axes, indices and offsets are random and valid. These ops are linear, so
//! each is checked squared: `gradgradcheck` then differentiates the backward
//! rule (whose output gradient depends on the input) as well.

mod common;

use common::{axis, broadcastable, check, config, dims, resolve, sq, uniform, Dims};
use ferrograd_autograd::Var;
use ferrograd_tensor::{Indices, Shape, Tensor};
use proptest::prelude::*;

/// A tensor of dimensions `d` with entries in −2..2.
fn values(d: Dims) -> impl Strategy<Value = Tensor> {
    uniform(d, -2.0, 2.0)
}

/// Indices of dimensions `d`, each in `0..n`.
fn indices(d: Dims, n: usize) -> impl Strategy<Value = Indices> {
    let len: usize = d.iter().product();
    prop::collection::vec(0..n, len).prop_map(move |i| Indices::new(i, &d).unwrap())
}

/// Dimensions of rank 1–3 with one of their axes (resolved to `0..rank`).
fn dims_axis() -> impl Strategy<Value = (Dims, usize, isize)> {
    dims(1, 3).prop_flat_map(|d| {
        let r = d.len();
        (Just(d), axis(r)).prop_map(move |(d, a)| (d, resolve(a, r), a))
    })
}

/// An axis at which to insert a new one into a rank-`r` tensor: −(r+1)..=r.
fn new_axis(r: usize) -> impl Strategy<Value = isize> {
    -(r as isize + 1)..=r as isize
}

proptest! {
    #![proptest_config(config())]

    /// To a shuffle of the dimensions, the first two maybe merged, a 1 maybe inserted.
    #[test]
    fn reshape(
        (x, to) in dims(0, 3).prop_flat_map(|d| {
            let r = d.len();
            (values(d.clone()), Just(d).prop_shuffle(), any::<bool>(), 0..=r, any::<bool>())
        })
        .prop_map(|(x, mut to, merge, at, one)| {
            if merge && to.len() >= 2 {
                let m = to.remove(0);
                to[0] *= m;
            }
            if one {
                to.insert(at.min(to.len()), 1);
            }
            (x, to)
        })
    ) {
        check(|v| Ok(sq(v[0].reshape(&to)?)), &[x])?;
    }

    #[test]
    fn permute(
        (x, perm) in dims(0, 3).prop_flat_map(|d| {
            let p: Vec<usize> = (0..d.len()).collect();
            (values(d), Just(p).prop_shuffle())
        })
    ) {
        check(|v| Ok(sq(v[0].permute(&perm)?)), &[x])?;
    }

    #[test]
    fn transpose(
        (x, a, b) in dims(1, 3).prop_flat_map(|d| {
            let r = d.len();
            (values(d), axis(r), axis(r))
        })
    ) {
        check(|v| Ok(sq(v[0].transpose(a, b)?)), &[x])?;
    }

    #[test]
    fn broadcast_to(
        (x, to) in dims(0, 3).prop_flat_map(|o| (broadcastable(o.clone()).prop_flat_map(values), Just(o)))
    ) {
        let to = Shape::new(&to).unwrap();
        check(|v| Ok(sq(v[0].broadcast_to(&to)?)), &[x])?;
    }

    #[test]
    fn sum_to(
        (x, to) in dims(0, 3).prop_flat_map(|o| (values(o.clone()), broadcastable(o)))
    ) {
        let to = Shape::new(&to).unwrap();
        check(|v| Ok(sq(v[0].sum_to(&to)?)), &[x])?;
    }

    #[test]
    fn unsqueeze((x, a) in dims(0, 3).prop_flat_map(|d| { let r = d.len(); (values(d), new_axis(r)) })) {
        check(|v| Ok(sq(v[0].unsqueeze(a)?)), &[x])?;
    }

    /// A size-1 axis inserted at a random place, then squeezed.
    #[test]
    fn squeeze(
        (x, a) in dims(0, 2).prop_flat_map(|d| {
            let r = d.len();
            (Just(d), 0..=r, any::<bool>())
        })
        .prop_flat_map(|(mut d, at, neg)| {
            d.insert(at, 1);
            let a = if neg { at as isize - d.len() as isize } else { at as isize };
            (values(d), Just(a))
        })
    ) {
        check(|v| Ok(sq(v[0].squeeze(a)?)), &[x])?;
    }

    #[test]
    fn narrow(
        (x, a, start, len) in dims_axis().prop_flat_map(|(d, i, a)| {
            let n = d[i];
            (values(d), Just(a), (0..n).prop_flat_map(move |s| (Just(s), 1..=n - s)))
        })
        .prop_map(|(x, a, (s, l))| (x, a, s, l))
    ) {
        check(|v| Ok(sq(v[0].narrow(a, start, len)?)), &[x])?;
    }

    #[test]
    fn pad_axis(
        (x, a, start, size) in dims_axis().prop_flat_map(|(d, i, a)| {
            let n = d[i];
            (values(d), Just(a), 0..=3usize, 0..=3usize)
                .prop_map(move |(x, a, s, extra)| (x, a, s, s + n + extra))
        })
    ) {
        check(|v| Ok(sq(v[0].pad_axis(a, start, size)?)), &[x])?;
    }

    /// 2–3 parts differing in size along the joined axis.
    #[test]
    fn concat(
        (parts, a) in dims_axis().prop_flat_map(|(d, i, a)| {
            let part = move |n: usize| {
                let mut d = d.clone();
                d[i] = n;
                values(d)
            };
            (
                prop::collection::vec((1..=4usize).prop_flat_map(part), 2..=3),
                Just(a),
            )
        })
    ) {
        check(
            |v| {
                let refs: Vec<&Var> = v.iter().collect();
                Ok(sq(Var::concat(&refs, a)?))
            },
            &parts,
        )?;
    }

    #[test]
    fn stack(
        (parts, a) in dims(0, 3).prop_flat_map(|d| {
            let r = d.len();
            (prop::collection::vec(values(d), 2..=3), new_axis(r))
        })
    ) {
        check(
            |v| {
                let refs: Vec<&Var> = v.iter().collect();
                Ok(sq(Var::stack(&refs, a)?))
            },
            &parts,
        )?;
    }

    /// 1–6 indices drawn from `0..n`, so repeats are common.
    #[test]
    fn index_select(
        (x, a, idx) in dims_axis().prop_flat_map(|(d, i, a)| {
            let n = d[i];
            (values(d), Just(a), (1..=6usize).prop_flat_map(move |m| indices(vec![m], n)))
        })
    ) {
        check(|v| Ok(sq(v[0].index_select(a, &idx)?)), &[x])?;
    }

    #[test]
    fn index_add(
        (x, a, idx, size) in dims_axis().prop_flat_map(|(d, i, a)| {
            let m = d[i];
            (values(d), Just(a), (1..=4usize).prop_flat_map(move |size| (indices(vec![m], size), Just(size))))
                .prop_map(|(x, a, (idx, size))| (x, a, idx, size))
        })
    ) {
        check(|v| Ok(sq(v[0].index_add(a, &idx, size)?)), &[x])?;
    }

    #[test]
    fn gather(
        (x, a, idx) in dims_axis().prop_flat_map(|(d, i, a)| {
            let n = d[i];
            let di = d.clone();
            (values(d), Just(a), (1..=4usize).prop_flat_map(move |m| {
                let mut di = di.clone();
                di[i] = m;
                indices(di, n)
            }))
        })
    ) {
        check(|v| Ok(sq(v[0].gather(a, &idx)?)), &[x])?;
    }

    #[test]
    fn scatter_add(
        (x, a, idx, size) in dims_axis().prop_flat_map(|(d, _, a)| {
            let di = d.clone();
            (values(d), Just(a), (1..=4usize).prop_flat_map(move |size| (indices(di.clone(), size), Just(size))))
                .prop_map(|(x, a, (idx, size))| (x, a, idx, size))
        })
    ) {
        check(|v| Ok(sq(v[0].scatter_add(a, &idx, size)?)), &[x])?;
    }

    #[test]
    fn tril((x, k) in dims(2, 3).prop_flat_map(values).prop_flat_map(|x| (Just(x), -4isize..=4))) {
        check(|v| Ok(sq(v[0].tril(k)?)), &[x])?;
    }

    #[test]
    fn triu((x, k) in dims(2, 3).prop_flat_map(values).prop_flat_map(|x| (Just(x), -4isize..=4))) {
        check(|v| Ok(sq(v[0].triu(k)?)), &[x])?;
    }

    /// Square matrices, batched or not.
    #[test]
    fn diagonal(
        x in (dims(0, 1), 1..=4usize).prop_flat_map(|(mut d, n)| {
            d.extend([n, n]);
            values(d)
        })
    ) {
        check(|v| Ok(sq(v[0].diagonal()?)), &[x])?;
    }

    #[test]
    fn diag_embed(x in dims(1, 3).prop_flat_map(values)) {
        check(|v| Ok(sq(v[0].diag_embed()?)), &[x])?;
    }
}
