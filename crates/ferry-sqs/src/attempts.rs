//! FIFO `ReceiveRequestAttemptId`: a ReceiveMessage retried with the same attempt id (after a
//! network error, say) gets the same messages and receipt handles back instead of new ones,
//! while their visibility timeout lasts and for five minutes at most.
//!
//! This is retry idempotency of a request, so it lives with the request layer: a bounded map
//! from (queue, attempt id) to the answer already given.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Map, Value};

/// How long SQS honours an attempt id.
pub const ATTEMPT_TTL_MS: i64 = 5 * 60_000;
/// Most answers remembered; beyond it the ones closest to expiry are forgotten first.
pub const MAX_ATTEMPTS: usize = 10_000;

/// (queue, attempt id).
type Key = (String, String);
/// (expiry in ms since the epoch, the answer's fields).
type Answer = (i64, Map<String, Value>);

/// Answers of recent FIFO receives, by queue and attempt id.
#[derive(Default)]
pub struct Attempts {
    answers: Mutex<HashMap<Key, Answer>>,
}

impl Attempts {
    /// The answer given to this attempt, if it is still valid at `now_ms`.
    pub fn get(&self, queue: &str, attempt: &str, now_ms: i64) -> Option<Map<String, Value>> {
        let answers = self.answers.lock().ok()?;
        match answers.get(&(queue.to_owned(), attempt.to_owned())) {
            Some((expires_ms, answer)) if *expires_ms > now_ms => Some(answer.clone()),
            _ => None,
        }
    }

    /// Remembers the answer to an attempt until `expires_ms`.
    pub fn put(&self, queue: &str, attempt: &str, expires_ms: i64, answer: Map<String, Value>, now_ms: i64) {
        let Ok(mut answers) = self.answers.lock() else { return };
        if answers.len() >= MAX_ATTEMPTS {
            answers.retain(|_, (expires, _)| *expires > now_ms);
        }
        while answers.len() >= MAX_ATTEMPTS {
            let Some(soonest) =
                answers.iter().min_by_key(|(_, (expires, _))| *expires).map(|(k, _)| k.clone())
            else {
                break;
            };
            answers.remove(&soonest);
        }
        answers.insert((queue.to_owned(), attempt.to_owned()), (expires_ms, answer));
    }

    /// Forgets every answer of a queue (it was deleted or purged).
    pub fn forget_queue(&self, queue: &str) {
        if let Ok(mut answers) = self.answers.lock() {
            answers.retain(|(q, _), _| q != queue);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(n: i64) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("n".into(), n.into());
        m
    }

    #[test]
    fn an_attempt_answers_the_same_until_it_expires() {
        let a = Attempts::default();
        a.put("q", "x", 1_000, answer(1), 0);
        assert_eq!(a.get("q", "x", 999), Some(answer(1)));
        assert_eq!(a.get("q", "x", 1_000), None);
        assert_eq!(a.get("other", "x", 0), None);
        a.forget_queue("q");
        assert_eq!(a.get("q", "x", 0), None);
    }

    #[test]
    fn the_map_stays_bounded_dropping_the_soonest_to_expire() {
        let a = Attempts::default();
        for i in 0..MAX_ATTEMPTS as i64 {
            a.put("q", &i.to_string(), 10_000 + i, answer(i), 0);
        }
        a.put("q", "new", 50_000, answer(-1), 0);
        assert_eq!(a.answers.lock().unwrap().len(), MAX_ATTEMPTS);
        assert_eq!(a.get("q", "0", 0), None);
        assert_eq!(a.get("q", "new", 0), Some(answer(-1)));
    }
}
