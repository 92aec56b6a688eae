//! Greedy CTC decoding of a text recogniser's output: best class per time step, repeats
//! collapsed, blanks dropped. Pure; the recogniser adapter feeds it the model's probabilities.

/// One decoded character with its probability and the runner-up at the same step.
#[derive(Debug, Clone, PartialEq)]
pub struct CtcChar {
    pub ch: String,
    pub prob: f32,
    /// The second most likely non-blank character at that step and its probability.
    pub alternative: Option<(String, f32)>,
}

/// Decode `[steps, classes]` probabilities (row-major). Class 0 is the blank; class `k` is
/// `charset[k - 1]`. Characters outside the charset are skipped.
pub fn greedy_decode(probs: &[f32], classes: usize, charset: &[String]) -> Vec<CtcChar> {
    let mut out: Vec<CtcChar> = Vec::new();
    let mut previous = 0usize;
    for step in probs.chunks_exact(classes.max(1)) {
        let (mut best, mut second) = ((0usize, f32::MIN), (0usize, f32::MIN));
        for (k, &p) in step.iter().enumerate() {
            if p > best.1 {
                if best.0 != 0 {
                    second = best;
                }
                best = (k, p);
            } else if k != 0 && p > second.1 {
                second = (k, p);
            }
        }
        if best.0 != 0
            && best.0 != previous
            && let Some(ch) = charset.get(best.0 - 1)
        {
            let alternative =
                (second.0 != 0).then(|| charset.get(second.0 - 1).map(|c| (c.clone(), second.1))).flatten();
            out.push(CtcChar { ch: ch.clone(), prob: best.1, alternative });
        }
        previous = best.0;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn charset() -> Vec<String> {
        ["A", "B", "1"].iter().map(|s| s.to_string()).collect()
    }

    fn step(p: [f32; 4]) -> Vec<f32> {
        p.to_vec()
    }

    #[test]
    fn repeats_collapse_and_blanks_separate() {
        // A A _ A B B 1  → "AAB1"
        let probs: Vec<f32> = [
            [0.1, 0.8, 0.05, 0.05],
            [0.1, 0.7, 0.1, 0.1],
            [0.9, 0.05, 0.05, 0.0],
            [0.2, 0.6, 0.0, 0.2],
            [0.0, 0.1, 0.9, 0.0],
            [0.0, 0.1, 0.8, 0.1],
            [0.1, 0.0, 0.3, 0.6],
        ]
        .into_iter()
        .flat_map(step)
        .collect();
        let out = greedy_decode(&probs, 4, &charset());
        let text: String = out.iter().map(|c| c.ch.as_str()).collect();
        assert_eq!(text, "AAB1");
        assert_eq!(out[2].prob, 0.9);
        assert_eq!(out[3].alternative, Some(("B".to_string(), 0.3)));
    }

    #[test]
    fn empty_and_all_blank_give_nothing() {
        assert!(greedy_decode(&[], 4, &charset()).is_empty());
        assert!(greedy_decode(&[1.0, 0.0, 0.0, 0.0], 4, &charset()).is_empty());
    }
}
