//! "Did you mean" suggestions by edit distance.

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    let candidates: Vec<&str> = candidates.into_iter().collect();
    if let Some(extended) = candidates
        .iter()
        .find(|candidate| word.len() >= 3 && candidate.starts_with(word))
    {
        return Some(extended);
    }
    candidates
        .into_iter()
        .map(|candidate| (distance(word, candidate), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, candidate)| (*distance, *candidate))
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance, by characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_misses_only() {
        let keys = ["description", "run", "requires", "inputs"];
        assert_eq!(closest("descripton", keys), Some("description"));
        assert_eq!(closest("input", keys), Some("inputs"));
        assert_eq!(closest("zzzzzzzz", keys), None);
        assert_eq!(
            closest("cache", ["default", "cache_dir"]),
            Some("cache_dir")
        );
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
