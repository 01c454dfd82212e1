//! The topic exchange's matcher: a trie over the words of binding patterns.
//!
//! Words are split on `.` as RabbitMQ splits them: the empty key has no words, and every other
//! key has one more word than it has dots, empty words included (`"a..b"` is `a`, ``, `b`). In
//! a pattern, `*` matches exactly one word and `#` zero or more; in a routing key they are
//! ordinary words. A lookup walks only the branches the key's words can take, so its cost
//! depends on the key and the wildcards on its way, not on how many bindings exist.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

/// The words of a routing key or binding pattern.
pub fn words(key: &str) -> impl Iterator<Item = &str> {
    // `split` yields one empty word for "", which RabbitMQ counts as no word at all.
    key.split('.').take(if key.is_empty() { 0 } else { usize::MAX })
}

/// Patterns mapped to values (a value may be bound with several patterns, and with one pattern
/// several times: each insert counts, each remove takes one).
#[derive(Debug)]
pub struct TopicTrie<T> {
    root: Node<T>,
    patterns: usize,
}

#[derive(Debug)]
struct Node<T> {
    words: HashMap<Box<str>, Node<T>>,
    star: Option<Box<Node<T>>>,
    hash: Option<Box<Node<T>>>,
    /// Values bound with the pattern that ends here, with how many times each is.
    values: HashMap<T, u32>,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Node { words: HashMap::new(), star: None, hash: None, values: HashMap::new() }
    }
}

impl<T> Node<T> {
    fn is_empty(&self) -> bool {
        self.words.is_empty() && self.star.is_none() && self.hash.is_none() && self.values.is_empty()
    }
}

impl<T> Default for TopicTrie<T> {
    fn default() -> Self {
        TopicTrie { root: Node::default(), patterns: 0 }
    }
}

impl<T: Eq + Hash + Clone> TopicTrie<T> {
    /// An empty trie.
    pub fn new() -> TopicTrie<T> {
        TopicTrie::default()
    }

    /// How many (pattern, value) insertions are held.
    pub fn len(&self) -> usize {
        self.patterns
    }

    /// True when nothing is bound.
    pub fn is_empty(&self) -> bool {
        self.patterns == 0
    }

    /// Binds `value` with `pattern`.
    pub fn insert(&mut self, pattern: &str, value: T) {
        let mut node = &mut self.root;
        for word in words(pattern) {
            node = match word {
                "*" => node.star.get_or_insert_with(Box::default),
                "#" => node.hash.get_or_insert_with(Box::default),
                w => node.words.entry(w.into()).or_default(),
            };
        }
        *node.values.entry(value).or_insert(0) += 1;
        self.patterns += 1;
    }

    /// Takes back one insertion of (`pattern`, `value`); false if there was none. Branches left
    /// empty are pruned, so a trie that had every pattern removed is as small as a new one.
    pub fn remove(&mut self, pattern: &str, value: &T) -> bool {
        let path: Vec<&str> = words(pattern).collect();
        let removed = remove_at(&mut self.root, &path, value);
        if removed {
            self.patterns -= 1;
        }
        removed
    }

    /// Appends to `out` every value bound with a pattern that matches `key`, each once.
    pub fn matches<'a>(&'a self, key: &str, out: &mut Vec<&'a T>) {
        let key: Vec<&str> = words(key).collect();
        let mut walk = Walk { key: &key, seen: HashSet::new(), found: HashSet::new(), out };
        walk.visit(&self.root, 0, false);
    }
}

fn remove_at<T: Eq + Hash>(node: &mut Node<T>, path: &[&str], value: &T) -> bool {
    let Some((&word, rest)) = path.split_first() else {
        let Some(count) = node.values.get_mut(value) else { return false };
        *count -= 1;
        if *count == 0 {
            node.values.remove(value);
        }
        return true;
    };
    match word {
        "*" | "#" => {
            let slot = if word == "*" { &mut node.star } else { &mut node.hash };
            let Some(child) = slot.as_deref_mut() else { return false };
            let removed = remove_at(child, rest, value);
            if child.is_empty() {
                *slot = None;
            }
            removed
        }
        w => {
            let Some(child) = node.words.get_mut(w) else { return false };
            let removed = remove_at(child, rest, value);
            if child.is_empty() {
                node.words.remove(w);
            }
            removed
        }
    }
}

/// One lookup's walk over the trie.
struct Walk<'k, 'a, 'o, T> {
    key: &'k [&'k str],
    /// (node, position in the key) pairs already walked. Without `#` on the way, a node is
    /// reached at one position only (its depth), by one path; behind a `#` it can be reached at
    /// many positions and by many paths, and walking each pair once keeps patterns such as
    /// `#.#.#` linear in the key's length instead of exponential.
    seen: HashSet<(*const Node<T>, usize)>,
    /// Nodes whose values were already appended (a pattern ending in `#` matches at every
    /// position that reaches it).
    found: HashSet<*const Node<T>>,
    out: &'o mut Vec<&'a T>,
}

impl<'a, T> Walk<'_, 'a, '_, T> {
    fn visit(&mut self, node: &'a Node<T>, at: usize, behind_hash: bool) {
        if behind_hash && !self.seen.insert((node as *const Node<T>, at)) {
            return;
        }
        if let Some(hash) = node.hash.as_deref() {
            // `#` takes zero, one, ... or all of the words left.
            for next in at..=self.key.len() {
                self.visit(hash, next, true);
            }
        }
        let Some(&word) = self.key.get(at) else {
            if !node.values.is_empty() && (!behind_hash || self.found.insert(node as *const Node<T>)) {
                self.out.extend(node.values.keys());
            }
            return;
        };
        if let Some(child) = node.words.get(word) {
            self.visit(child, at + 1, behind_hash);
        }
        if let Some(star) = node.star.as_deref() {
            self.visit(star, at + 1, behind_hash);
        }
    }
}
