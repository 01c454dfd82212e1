//! FIFO queues and dead-letter redrive through the AWS SDK for Rust, end to end.

mod common;

use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};

fn code<T, E: ProvideErrorMetadata, R>(result: &Result<T, SdkError<E, R>>) -> String {
    match result {
        Ok(_) => "no error".to_owned(),
        Err(e) => e.as_service_error().and_then(|s| s.code()).unwrap_or("not a service error").to_owned(),
    }
}

async fn bodies(
    c: &aws_sdk_sqs::Client,
    url: &str,
    max: i32,
    visibility: Option<i32>,
) -> Vec<(String, String)> {
    let out = c
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(max)
        .set_visibility_timeout(visibility)
        .send()
        .await
        .unwrap();
    out.messages()
        .iter()
        .map(|m| (m.body().unwrap().to_owned(), m.receipt_handle().unwrap().to_owned()))
        .collect()
}

fn names(got: &[(String, String)]) -> Vec<&str> {
    got.iter().map(|(b, _)| b.as_str()).collect()
}

#[tokio::test]
async fn fifo_send_rules_match_sqs() {
    let server = common::start().await;
    let c = &server.client;
    let url = server.queue("rules.fifo", &[("FifoQueue", "true")]).await;
    let r = c.send_message().queue_url(&url).message_body("x").message_deduplication_id("d").send().await;
    assert_eq!(code(&r), "MissingParameter");
    let r = c
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .message_group_id("g")
        .message_deduplication_id("d")
        .delay_seconds(1)
        .send()
        .await;
    assert_eq!(code(&r), "InvalidParameterValue");
    let r = c.send_message().queue_url(&url).message_body("x").message_group_id("g").send().await;
    assert_eq!(code(&r), "InvalidParameterValue");

    let standard = server.queue("plain", &[]).await;
    let r =
        c.send_message().queue_url(&standard).message_body("x").message_deduplication_id("d").send().await;
    assert_eq!(code(&r), "InvalidParameterValue");
}

#[tokio::test]
async fn fifo_group_with_message_in_flight_delivers_nothing_else_until_deleted() {
    let server = common::start().await;
    let c = &server.client;
    let url = server.queue("groups.fifo", &[("FifoQueue", "true")]).await;
    let mut sequence = Vec::new();
    for (group, body) in [("a", "a1"), ("a", "a2"), ("b", "b1")] {
        let sent = c
            .send_message()
            .queue_url(&url)
            .message_body(body)
            .message_group_id(group)
            .message_deduplication_id(body)
            .send()
            .await
            .unwrap();
        sequence.push(sent.sequence_number().expect("FIFO sends have a sequence number").to_owned());
    }
    assert!(sequence.windows(2).all(|w| w[0] < w[1]), "{sequence:?}");

    let first = bodies(c, &url, 1, None).await;
    assert_eq!(names(&first), ["a1"]);
    // a1 is in flight: group a is blocked, b is not.
    let second = bodies(c, &url, 10, None).await;
    assert_eq!(names(&second), ["b1"]);
    assert!(bodies(c, &url, 10, None).await.is_empty());
    c.delete_message().queue_url(&url).receipt_handle(&first[0].1).send().await.unwrap();
    assert_eq!(names(&bodies(c, &url, 10, None).await), ["a2"]);
}

#[tokio::test]
async fn fifo_order_holds_across_an_expired_lease() {
    let server = common::start().await;
    let c = &server.client;
    let url =
        server.queue("order.fifo", &[("FifoQueue", "true"), ("ContentBasedDeduplication", "true")]).await;
    for body in ["1", "2", "3"] {
        c.send_message().queue_url(&url).message_body(body).message_group_id("g").send().await.unwrap();
    }
    assert_eq!(names(&bodies(c, &url, 1, Some(5)).await), ["1"]);
    server.advance_secs(6.0).await;
    assert_eq!(names(&bodies(c, &url, 10, None).await), ["1", "2", "3"]);
}

#[tokio::test]
async fn fifo_dedup_holds_for_the_window_even_after_the_first_copy_is_deleted() {
    let server = common::start().await;
    let c = &server.client;
    let url = server.queue("dedup.fifo", &[("FifoQueue", "true")]).await;
    let send = || {
        c.send_message()
            .queue_url(&url)
            .message_body("once")
            .message_group_id("g")
            .message_deduplication_id("k")
    };
    let first = send().send().await.unwrap();
    let dup = send().send().await.unwrap();
    assert_eq!(first.message_id(), dup.message_id());
    let got = bodies(c, &url, 10, None).await;
    assert_eq!(names(&got), ["once"]);
    c.delete_message().queue_url(&url).receipt_handle(&got[0].1).send().await.unwrap();
    server.advance_secs(60.0).await;
    let again = send().send().await.unwrap();
    assert_eq!(again.message_id(), first.message_id());
    assert!(bodies(c, &url, 10, None).await.is_empty());
    server.advance_secs(300.0).await;
    let fresh = send().send().await.unwrap();
    assert_ne!(fresh.message_id(), first.message_id());
    assert_eq!(names(&bodies(c, &url, 10, None).await), ["once"]);
}

#[tokio::test]
async fn content_based_dedup_uses_the_body() {
    let server = common::start().await;
    let c = &server.client;
    let url = server.queue("cbd.fifo", &[("FifoQueue", "true"), ("ContentBasedDeduplication", "true")]).await;
    let a = c.send_message().queue_url(&url).message_body("same").message_group_id("g").send().await.unwrap();
    let b = c.send_message().queue_url(&url).message_body("same").message_group_id("g").send().await.unwrap();
    assert_eq!(a.message_id(), b.message_id());
    let attrs = c
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let attrs = attrs.attributes().unwrap();
    assert_eq!(attrs[&QueueAttributeName::FifoQueue], "true");
    assert_eq!(attrs[&QueueAttributeName::ContentBasedDeduplication], "true");
}

#[tokio::test]
async fn redrive_moves_a_message_to_the_dead_letter_queue_and_back() {
    let server = common::start().await;
    let c = &server.client;
    let dlq = server.queue("work-dlq", &[]).await;
    let dlq_arn = "arn:aws:sqs:us-east-1:000000000000:work-dlq";
    let policy = format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"2"}}"#);
    let work = server.queue("work", &[("RedrivePolicy", &policy)]).await;
    let attrs = c
        .get_queue_attributes()
        .queue_url(&work)
        .attribute_names(QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .unwrap();
    assert_eq!(
        attrs.attributes().unwrap()[&QueueAttributeName::RedrivePolicy],
        format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":2}}"#)
    );

    c.send_message().queue_url(&work).message_body("poison").send().await.unwrap();
    for _ in 0..2 {
        assert_eq!(names(&bodies(c, &work, 1, Some(1)).await), ["poison"]);
        server.advance_secs(2.0).await;
    }
    assert!(bodies(c, &work, 1, None).await.is_empty());
    let dead = c
        .receive_message()
        .queue_url(&dlq)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let m = &dead.messages()[0];
    assert_eq!(m.body(), Some("poison"));
    assert_eq!(
        m.attributes()
            .unwrap()
            .get(&MessageSystemAttributeName::DeadLetterQueueSourceArn)
            .map(String::as_str),
        Some("arn:aws:sqs:us-east-1:000000000000:work")
    );

    let sources = c.list_dead_letter_source_queues().queue_url(&dlq).send().await.unwrap();
    assert_eq!(sources.queue_urls(), std::slice::from_ref(&work));

    server.advance_secs(1.0).await;
    let task = c.start_message_move_task().source_arn(dlq_arn).send().await.unwrap();
    assert!(task.task_handle().is_some());
    let mut back = Vec::new();
    for _ in 0..50 {
        server.advance_secs(1.0).await;
        back = bodies(c, &work, 1, None).await;
        if !back.is_empty() {
            break;
        }
    }
    assert_eq!(names(&back), ["poison"]);
    let tasks = c.list_message_move_tasks().source_arn(dlq_arn).send().await.unwrap();
    assert_eq!(tasks.results().len(), 1);
    assert_eq!(tasks.results()[0].approximate_number_of_messages_moved(), 1);

    let r = c.cancel_message_move_task().task_handle("no-such-task").send().await;
    assert_eq!(code(&r), "ResourceNotFoundException");
    let r = c.start_message_move_task().source_arn("arn:aws:sqs:us-east-1:000000000000:absent").send().await;
    assert_eq!(code(&r), "ResourceNotFoundException");
    let r = c.start_message_move_task().source_arn("arn:aws:sqs:us-east-1:000000000000:work").send().await;
    assert_eq!(code(&r), "InvalidParameterValue");
}

#[tokio::test]
async fn redrive_policy_is_checked_against_its_target() {
    let server = common::start().await;
    let c = &server.client;
    let work = server.queue("w", &[]).await;
    let set = |policy: String| {
        c.set_queue_attributes().queue_url(&work).attributes(QueueAttributeName::RedrivePolicy, policy).send()
    };

    let r =
        set(r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:absent","maxReceiveCount":3}"#
            .into())
        .await;
    assert_eq!(code(&r), "InvalidParameterValue");
    server.queue("f.fifo", &[("FifoQueue", "true")]).await;
    let r =
        set(r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:f.fifo","maxReceiveCount":3}"#
            .into())
        .await;
    assert_eq!(code(&r), "InvalidParameterValue");
    server.queue("closed", &[("RedriveAllowPolicy", r#"{"redrivePermission":"denyAll"}"#)]).await;
    let r =
        set(r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:closed","maxReceiveCount":3}"#
            .into())
        .await;
    assert_eq!(code(&r), "InvalidParameterValue");
    let r = set("not json".into()).await;
    assert_eq!(code(&r), "InvalidParameterValue");
    server.queue("open", &[]).await;
    set(r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:open","maxReceiveCount":3}"#.into())
        .await
        .unwrap();
    set(String::new()).await.unwrap();
    let attrs = c
        .get_queue_attributes()
        .queue_url(&work)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    assert!(!attrs.attributes().unwrap().contains_key(&QueueAttributeName::RedrivePolicy));
}

#[tokio::test]
async fn fifo_receive_retried_with_its_attempt_id_gets_the_same_messages() {
    let server = common::start().await;
    let c = &server.client;
    let url =
        server.queue("retry.fifo", &[("FifoQueue", "true"), ("ContentBasedDeduplication", "true")]).await;
    for body in ["1", "2"] {
        c.send_message().queue_url(&url).message_body(body).message_group_id("g").send().await.unwrap();
    }
    let receive = |attempt: &'static str| {
        c.receive_message()
            .queue_url(&url)
            .max_number_of_messages(1)
            .visibility_timeout(30)
            .receive_request_attempt_id(attempt)
            .send()
    };
    let first = receive("attempt-1").await.unwrap();
    let retried = receive("attempt-1").await.unwrap();
    assert_eq!(first.messages()[0].body(), Some("1"));
    assert_eq!(retried.messages()[0].receipt_handle(), first.messages()[0].receipt_handle());
    // Another attempt is a new receive: group g is blocked by the message in flight.
    assert!(receive("attempt-2").await.unwrap().messages().is_empty());
    // Once the lease is over, the attempt id no longer replays the old answer.
    server.advance_secs(31.0).await;
    let later = receive("attempt-1").await.unwrap();
    assert_eq!(later.messages()[0].body(), Some("1"));
    assert_ne!(later.messages()[0].receipt_handle(), first.messages()[0].receipt_handle());
}
