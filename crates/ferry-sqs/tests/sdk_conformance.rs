//! Details where SQS's documented or observed behaviour is the contract: attribute-name
//! wildcards, millisecond timestamps, FIFO delays and batch checks, bare queue names as
//! `QueueUrl`, and the wording of errors. Through the AWS SDK for Rust (JSON 1.0).

mod common;

use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, MessageAttributeValue,
    MessageSystemAttributeName, SendMessageBatchRequestEntry,
};

/// (code, message) of a failed call.
fn error<T, E: ProvideErrorMetadata, R>(result: &Result<T, SdkError<E, R>>) -> (String, String) {
    match result {
        Ok(_) => ("no error".to_owned(), String::new()),
        Err(e) => match e.as_service_error() {
            Some(s) => (s.code().unwrap_or("").to_owned(), s.message().unwrap_or("").to_owned()),
            None => ("not a service error".to_owned(), String::new()),
        },
    }
}

fn text(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder().data_type("String").string_value(value).build().unwrap()
}

#[tokio::test]
async fn a_prefix_wildcard_returns_every_attribute_starting_with_the_prefix() {
    let server = common::start().await;
    let c = &server.client;
    let url = server.queue("wild", &[]).await;
    c.send_message()
        .queue_url(&url)
        .message_body("b")
        .message_attributes("Custom.Id", text("1"))
        .message_attributes("Customer", text("2"))
        .message_attributes("Other", text("3"))
        .send()
        .await
        .unwrap();
    let got = c
        .receive_message()
        .queue_url(&url)
        .message_attribute_names("Custom.*")
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let attributes = got.messages()[0].message_attributes().expect("attributes");
    let mut names: Vec<_> = attributes.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["Custom.Id", "Customer"]);

    let got = c.receive_message().queue_url(&url).message_attribute_names("*").send().await.unwrap();
    assert_eq!(got.messages()[0].message_attributes().map(|a| a.len()), Some(3));
}

#[tokio::test]
async fn timestamp_attributes_are_in_milliseconds() {
    let server = common::start().await;
    let c = &server.client;
    let url = server.queue("stamps", &[]).await;
    server.advance_secs(0.5).await;
    c.send_message().queue_url(&url).message_body("b").send().await.unwrap();
    server.advance_secs(1.234).await;
    let got = c
        .receive_message()
        .queue_url(&url)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    let attributes = got.messages()[0].attributes().expect("attributes");
    let stamp = |name| attributes[&name].parse::<i64>().expect("a number");
    let sent = stamp(MessageSystemAttributeName::SentTimestamp);
    let first = stamp(MessageSystemAttributeName::ApproximateFirstReceiveTimestamp);
    assert_eq!(sent, 1_700_000_000_500);
    assert_eq!(first, sent + 1_234);
}

#[tokio::test]
async fn a_fifo_message_takes_an_explicit_zero_delay_but_no_other() {
    let server = common::start().await;
    let c = &server.client;
    let url =
        server.queue("delays.fifo", &[("FifoQueue", "true"), ("ContentBasedDeduplication", "true")]).await;
    let zero = c
        .send_message()
        .queue_url(&url)
        .message_body("a")
        .message_group_id("g")
        .delay_seconds(0)
        .send()
        .await;
    assert!(zero.is_ok(), "{zero:?}");
    let five = c
        .send_message()
        .queue_url(&url)
        .message_body("b")
        .message_group_id("g")
        .delay_seconds(5)
        .send()
        .await;
    assert_eq!(error(&five).0, "InvalidParameterValue");
    let batch = c
        .send_message_batch()
        .queue_url(&url)
        .entries(
            SendMessageBatchRequestEntry::builder()
                .id("z")
                .message_body("c")
                .message_group_id("g")
                .delay_seconds(0)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(batch.successful().len(), 1);
    assert!(batch.failed().is_empty());
}

#[tokio::test]
async fn a_bare_queue_name_is_accepted_as_queue_url() {
    let server = common::start().await;
    let c = &server.client;
    server.queue("bare", &[]).await;
    c.send_message().queue_url("bare").message_body("by name").send().await.unwrap();
    let got = c.receive_message().queue_url("bare").send().await.unwrap();
    assert_eq!(got.messages()[0].body(), Some("by name"));
    let missing = c.send_message().queue_url("absent").message_body("x").send().await;
    assert_eq!(error(&missing).0, "AWS.SimpleQueueService.NonExistentQueue");
}

#[tokio::test]
async fn a_fifo_batch_entry_without_its_ids_refuses_the_whole_request() {
    let server = common::start().await;
    let c = &server.client;
    let url = server.queue("strict.fifo", &[("FifoQueue", "true")]).await;
    let entry = |id: &str| SendMessageBatchRequestEntry::builder().id(id).message_body(id);
    let complete = entry("ok").message_group_id("g").message_deduplication_id("d").build().unwrap();

    let no_group = entry("nogroup").message_deduplication_id("d2").build().unwrap();
    let r = c.send_message_batch().queue_url(&url).entries(complete.clone()).entries(no_group).send().await;
    assert_eq!(
        error(&r),
        ("MissingParameter".to_owned(), "The request must contain the parameter MessageGroupId.".to_owned())
    );

    let no_dedup = entry("nodedup").message_group_id("g").build().unwrap();
    let r = c.send_message_batch().queue_url(&url).entries(complete).entries(no_dedup).send().await;
    assert_eq!(
        error(&r),
        (
            "InvalidParameterValue".to_owned(),
            "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly"
                .to_owned()
        )
    );
    // Neither request stored anything.
    let got = c.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    assert!(got.messages().is_empty());
}

#[tokio::test]
async fn errors_are_worded_as_sqs_words_them() {
    let server = common::start().await;
    let c = &server.client;
    let url = server.queue("words", &[]).await;

    let r = c.delete_message().queue_url(&url).receipt_handle("unknown-stuff").send().await;
    let expected = "The input receipt handle \"unknown-stuff\" is not a valid receipt handle.";
    assert_eq!(error(&r), ("ReceiptHandleIsInvalid".to_owned(), expected.to_owned()));
    let r = c
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle("unknown-stuff")
        .visibility_timeout(5)
        .send()
        .await;
    assert_eq!(error(&r), ("ReceiptHandleIsInvalid".to_owned(), expected.to_owned()));

    let empty = "AWS.SimpleQueueService.EmptyBatchRequest".to_owned();
    let r = c.send_message_batch().queue_url(&url).set_entries(Some(vec![])).send().await;
    let text = "There should be at least one SendMessageBatchRequestEntry in the request.";
    assert_eq!(error(&r), (empty.clone(), text.to_owned()));
    let r = c
        .delete_message_batch()
        .queue_url(&url)
        .set_entries(Some(Vec::<DeleteMessageBatchRequestEntry>::new()))
        .send()
        .await;
    let text = "There should be at least one DeleteMessageBatchRequestEntry in the request.";
    assert_eq!(error(&r), (empty.clone(), text.to_owned()));
    let r = c
        .change_message_visibility_batch()
        .queue_url(&url)
        .set_entries(Some(Vec::<ChangeMessageVisibilityBatchRequestEntry>::new()))
        .send()
        .await;
    let text = "There should be at least one ChangeMessageVisibilityBatchRequestEntry in the request.";
    assert_eq!(error(&r), (empty, text.to_owned()));
}

#[tokio::test]
async fn a_fair_queue_delivers_a_quiet_tenant_ahead_of_a_noisy_tenants_backlog() {
    let server = common::start().await;
    let c = &server.client;
    let url = server.queue("tenants", &[]).await;
    for chunk in 0..20 {
        let mut batch = c.send_message_batch().queue_url(&url);
        for i in 0..10 {
            let body = format!("noisy-{}", chunk * 10 + i);
            batch = batch.entries(
                SendMessageBatchRequestEntry::builder()
                    .id(format!("n{i}"))
                    .message_body(body)
                    .message_group_id("noisy")
                    .build()
                    .unwrap(),
            );
        }
        batch.send().await.unwrap();
    }
    for i in 0..3 {
        c.send_message()
            .queue_url(&url)
            .message_body(format!("quiet-{i}"))
            .message_group_id("quiet")
            .send()
            .await
            .unwrap();
    }
    let receive = || async {
        let got = c
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .send()
            .await
            .unwrap();
        got.messages().iter().map(|m| m.body().unwrap_or_default().to_owned()).collect::<Vec<_>>()
    };
    // Consumers busy with the noisy tenant's first 30 messages (none deleted yet).
    for _ in 0..3 {
        assert!(receive().await.iter().all(|b| b.starts_with("noisy-")));
    }
    let next = receive().await;
    assert_eq!(next[..3], ["quiet-0", "quiet-1", "quiet-2"], "{next:?}");
    assert!(next[3..].iter().all(|b| b.starts_with("noisy-")), "{next:?}");
}
