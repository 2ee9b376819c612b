//! Checked counts of the weights and biases of common layers, the parts of
//! each family's `min_value_count`: a loader compares the count its model
//! description claims with the values its file holds
//! ([`super::check_claimed_size`]) before building (and allocating) the
//! model. Every count is `None` when it overflows `usize`, never a wrapped
//! number or a panic.

/// Weights and biases of a linear layer `inputs → outputs`.
pub fn linear(inputs: usize, outputs: usize) -> Option<usize> {
    inputs.checked_mul(outputs)?.checked_add(outputs)
}

/// Weights and biases of the chain of linear layers through `widths` (an
/// MLP `widths[0] → … → widths[n-1]`).
pub fn dense(widths: &[usize]) -> Option<usize> {
    sum(widths.windows(2).map(|w| linear(w[0], w[1])))
}

/// Weights and biases of a convolution from `inputs` to `outputs` channels
/// with a `k × k` kernel.
pub fn conv(inputs: usize, outputs: usize, k: usize) -> Option<usize> {
    inputs
        .checked_mul(outputs)?
        .checked_mul(k.checked_mul(k)?)?
        .checked_add(outputs)
}

/// Weights and biases of one Transformer encoder layer of width `d` and
/// feed-forward width `ff`: attention (in- and out-projections), the two
/// feed-forward layers and two layer norms.
pub fn transformer_layer(d: usize, ff: usize) -> Option<usize> {
    sum([
        linear(d, d.checked_mul(3)?),
        linear(d, d),
        linear(d, ff),
        linear(ff, d),
        d.checked_mul(4),
    ])
}

/// The sum of `counts`, `None` if one is `None` or the sum overflows.
pub fn sum(counts: impl IntoIterator<Item = Option<usize>>) -> Option<usize> {
    counts
        .into_iter()
        .try_fold(0usize, |n, c| n.checked_add(c?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_match_layers_and_overflow_to_none() {
        assert_eq!(linear(3, 4), Some(16));
        assert_eq!(dense(&[2, 4, 1]), Some(12 + 5));
        assert_eq!(dense(&[7]), Some(0));
        assert_eq!(conv(3, 32, 4), Some(3 * 32 * 16 + 32));
        // PyTorch's nn.TransformerEncoderLayer(8, 2, 16): 3·8·8 + 24 + 64 +
        // 8 + 8·16 + 16 + 16·8 + 8 + 4·8 parameters.
        assert_eq!(transformer_layer(8, 16), Some(600));
        assert_eq!(linear(usize::MAX, 2), None);
        assert_eq!(dense(&[1 << 40, 1 << 40]), None);
        assert_eq!(sum([Some(usize::MAX), Some(1)]), None);
        assert_eq!(transformer_layer(1 << 33, 1), None);
    }
}
