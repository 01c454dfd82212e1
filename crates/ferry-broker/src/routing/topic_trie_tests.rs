//! The topic trie against the plain recursive definition of topic matching.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::topic_trie::{TopicTrie, words};

/// The plain recursive definition of topic matching, to check the trie against.
fn naive_match(pattern: &[&str], key: &[&str]) -> bool {
    match pattern.split_first() {
        None => key.is_empty(),
        Some((&"#", rest)) => (0..=key.len()).any(|skip| naive_match(rest, &key[skip..])),
        Some((&"*", rest)) => !key.is_empty() && naive_match(rest, &key[1..]),
        Some((word, rest)) => key.first() == Some(word) && naive_match(rest, &key[1..]),
    }
}

fn dotted(words: impl Strategy<Value = String>, most: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(words, 0..most).prop_map(|w| w.join("."))
}

fn key_word() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("a".into()),
        Just("b".into()),
        Just("ab".into()),
        Just("*".into()),
        Just("#".into())
    ]
}

fn pattern_word() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("a".into()),
        Just("b".into()),
        Just("ab".into()),
        Just("*".into()),
        Just("#".into())
    ]
}

proptest! {
    #[test]
    fn topic_trie_agrees_with_the_reference_matcher(
        patterns in proptest::collection::vec(dotted(pattern_word(), 6), 1..12),
        keys in proptest::collection::vec(dotted(key_word(), 7), 1..8),
        removed in proptest::collection::vec(any::<bool>(), 12),
    ) {
        let mut trie = TopicTrie::new();
        for (i, p) in patterns.iter().enumerate() {
            trie.insert(p, i);
        }
        let mut kept: BTreeSet<usize> = (0..patterns.len()).collect();
        for (i, p) in patterns.iter().enumerate() {
            if removed[i] {
                prop_assert!(trie.remove(p, &i));
                kept.remove(&i);
            }
        }
        prop_assert!(!trie.remove("never.bound", &0));
        prop_assert_eq!(trie.len(), kept.len());
        for key in &keys {
            let key_words: Vec<&str> = words(key).collect();
            let mut found = Vec::new();
            trie.matches(key, &mut found);
            let got: Vec<usize> = found.into_iter().copied().collect();
            let unique: BTreeSet<usize> = got.iter().copied().collect();
            prop_assert_eq!(got.len(), unique.len(), "a value appended twice for {:?}", key);
            let expected: BTreeSet<usize> = kept
                .iter()
                .copied()
                .filter(|&i| naive_match(&words(&patterns[i]).collect::<Vec<_>>(), &key_words))
                .collect();
            prop_assert_eq!(unique, expected, "key {:?} patterns {:?}", key, patterns);
        }
    }
}

#[test]
fn topic_trie_empties_back_to_nothing() {
    let mut trie = TopicTrie::new();
    for p in ["a.#.b", "#", "*.*", "", "a..b"] {
        trie.insert(p, p);
    }
    for p in ["a.#.b", "#", "*.*", "", "a..b"] {
        assert!(trie.remove(p, &p));
    }
    assert!(trie.is_empty());
    let mut found = Vec::new();
    trie.matches("a.b", &mut found);
    assert!(found.is_empty());
}

#[test]
fn topic_words_split_as_rabbitmq_splits_them() {
    fn split(k: &str) -> Vec<&str> {
        words(k).collect()
    }
    assert!(split("").is_empty());
    assert_eq!(split("."), ["", ""]);
    assert_eq!(split("a..b"), ["a", "", "b"]);
    assert_eq!(split("a."), ["a", ""]);
}

#[test]
fn many_hashes_stay_linear_in_the_key() {
    let mut trie = TopicTrie::new();
    trie.insert("#.#.#.#.#.#.#.#.z", 1);
    let key = vec!["a"; 120].join(".");
    let mut found = Vec::new();
    trie.matches(&key, &mut found);
    assert!(found.is_empty());
    trie.matches(&format!("{key}.z"), &mut found);
    assert_eq!(found, [&1]);
}
