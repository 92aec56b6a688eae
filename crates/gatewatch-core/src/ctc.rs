//! Greedy CTC decoding of a text recogniser's output: best class per time step, repeats
//! collapsed, blanks dropped. Each character keeps the most likely characters of its step, so
//! a grammar can later take the best one a position allows (`plate::constrained`). Pure; the
//! recogniser adapter feeds it the model's probabilities.

/// How many of a step's most likely characters a decoded character keeps.
pub const OPTIONS: usize = 8;

/// One decoded character with its probability and the likeliest characters of its step.
#[derive(Debug, Clone, PartialEq)]
pub struct CtcChar {
    pub ch: String,
    pub prob: f32,
    /// Up to [`OPTIONS`] non-blank characters of that step, most likely first (`ch` first).
    pub options: Vec<(String, f32)>,
}

impl CtcChar {
    /// The second most likely character at that step.
    pub fn alternative(&self) -> Option<&(String, f32)> {
        self.options.get(1)
    }
}

/// Decode `[steps, classes]` probabilities (row-major). Class 0 is the blank; class `k` is
/// `charset[k - 1]`. Characters outside the charset are skipped.
pub fn greedy_decode(probs: &[f32], classes: usize, charset: &[String]) -> Vec<CtcChar> {
    let mut out: Vec<CtcChar> = Vec::new();
    let mut previous = 0usize;
    for step in probs.chunks_exact(classes.max(1)) {
        let best = step.iter().enumerate().fold((0usize, f32::MIN), |b, (k, &p)| if p > b.1 { (k, p) } else { b });
        if best.0 != 0
            && best.0 != previous
            && let Some(ch) = charset.get(best.0 - 1)
        {
            out.push(CtcChar { ch: ch.clone(), prob: best.1, options: options(step, charset) });
        }
        previous = best.0;
    }
    out
}

/// The step's [`OPTIONS`] most likely non-blank characters, most likely first.
fn options(step: &[f32], charset: &[String]) -> Vec<(String, f32)> {
    let mut top: Vec<(usize, f32)> = Vec::with_capacity(OPTIONS + 1);
    for (k, &p) in step.iter().enumerate().skip(1) {
        if k > charset.len() || (top.len() == OPTIONS && p <= top[OPTIONS - 1].1) {
            continue;
        }
        let at = top.partition_point(|t| t.1 >= p);
        top.insert(at, (k, p));
        top.truncate(OPTIONS);
    }
    top.into_iter().map(|(k, p)| (charset[k - 1].clone(), p)).collect()
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
        assert_eq!(out[3].alternative(), Some(&("B".to_string(), 0.3)));
        assert_eq!(out[3].options, vec![("1".to_string(), 0.6), ("B".to_string(), 0.3), ("A".to_string(), 0.0)]);
    }

    #[test]
    fn empty_and_all_blank_give_nothing() {
        assert!(greedy_decode(&[], 4, &charset()).is_empty());
        assert!(greedy_decode(&[1.0, 0.0, 0.0, 0.0], 4, &charset()).is_empty());
    }
}
