//! The SNS API through the AWS SDK for Rust (aws-sdk-sns, query protocol, SigV4 scoped to
//! `sns`) against the real AWS listener: topics, subscriptions of SQS queues, publishes that
//! arrive in the queues as the SNS envelope or raw, filter policies, and errors.

mod common;

use aws_sdk_sns::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;

fn sns_client(endpoint: &str) -> aws_sdk_sns::Client {
    let config = aws_sdk_sns::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDEXAMPLE", "secret", None, None, "test"))
        .endpoint_url(endpoint)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_sns::Client::from_conf(config)
}

async fn queue_arn(server: &common::TestServer, url: &str) -> String {
    let attrs = server
        .client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes");
    attrs.attributes().and_then(|a| a.get(&QueueAttributeName::QueueArn)).cloned().expect("queue arn")
}

async fn receive_bodies(server: &common::TestServer, url: &str) -> Vec<String> {
    let out = server
        .client
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .send()
        .await
        .expect("receive");
    out.messages().iter().filter_map(|m| m.body().map(str::to_owned)).collect()
}

#[tokio::test]
async fn a_publish_reaches_a_subscribed_queue_as_the_sns_envelope() {
    let server = common::start().await;
    let sns = sns_client(&server.endpoint);
    let topic = sns.create_topic().name("orders").send().await.expect("create topic");
    let topic_arn = topic.topic_arn().expect("topic arn").to_owned();
    assert_eq!(topic_arn, "arn:aws:sns:us-east-1:000000000000:orders");
    let url = server.queue("orders-audit", &[]).await;
    let arn = queue_arn(&server, &url).await;
    let sub =
        sns.subscribe().topic_arn(&topic_arn).protocol("sqs").endpoint(&arn).send().await.expect("subscribe");
    let sub_arn = sub.subscription_arn().expect("subscription arn").to_owned();
    assert!(sub_arn.starts_with(&format!("{topic_arn}:")));

    let attr = MessageAttributeValue::builder().data_type("String").string_value("eu").build().unwrap();
    let published = sns
        .publish()
        .topic_arn(&topic_arn)
        .subject("new order")
        .message("order 42")
        .message_attributes("region", attr)
        .send()
        .await
        .expect("publish");
    let message_id = published.message_id().expect("message id").to_owned();

    let bodies = receive_bodies(&server, &url).await;
    assert_eq!(bodies.len(), 1);
    let envelope: serde_json::Value = serde_json::from_str(&bodies[0]).expect("envelope is JSON");
    assert_eq!(envelope["Type"], "Notification");
    assert_eq!(envelope["MessageId"], message_id.as_str());
    assert_eq!(envelope["TopicArn"], topic_arn.as_str());
    assert_eq!(envelope["Subject"], "new order");
    assert_eq!(envelope["Message"], "order 42");
    assert_eq!(envelope["MessageAttributes"]["region"]["Type"], "String");
    assert_eq!(envelope["MessageAttributes"]["region"]["Value"], "eu");
    assert_eq!(envelope["SignatureVersion"], "1");
    assert!(envelope["UnsubscribeURL"].as_str().unwrap().ends_with(&sub_arn));

    let listed = sns.list_subscriptions_by_topic().topic_arn(&topic_arn).send().await.expect("list");
    assert_eq!(listed.subscriptions()[0].endpoint(), Some(arn.as_str()));
}

#[tokio::test]
async fn raw_delivery_and_filter_policies_are_honoured() {
    let server = common::start().await;
    let sns = sns_client(&server.endpoint);
    let topic_arn =
        sns.create_topic().name("events").send().await.expect("create").topic_arn().unwrap().to_owned();
    let url = server.queue("red-events", &[]).await;
    let arn = queue_arn(&server, &url).await;
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(&arn)
        .attributes("RawMessageDelivery", "true")
        .attributes("FilterPolicy", r#"{"color": ["red"]}"#)
        .send()
        .await
        .expect("subscribe");
    for color in ["blue", "red"] {
        let attr = MessageAttributeValue::builder().data_type("String").string_value(color).build().unwrap();
        sns.publish()
            .topic_arn(&topic_arn)
            .message(format!("{color} event"))
            .message_attributes("color", attr)
            .send()
            .await
            .expect("publish");
    }
    let out = server
        .client
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .send()
        .await
        .expect("receive");
    let messages = out.messages();
    assert_eq!(messages.len(), 1, "the blue event is filtered out");
    assert_eq!(messages[0].body(), Some("red event"));
    let color = messages[0].message_attributes().and_then(|a| a.get("color")).expect("attribute kept");
    assert_eq!(color.string_value(), Some("red"));
}

#[tokio::test]
async fn errors_are_answered_with_sns_codes() {
    let server = common::start().await;
    let sns = sns_client(&server.endpoint);
    let missing = "arn:aws:sns:us-east-1:000000000000:missing";
    let e = sns.publish().topic_arn(missing).message("x").send().await.unwrap_err();
    assert!(e.into_service_error().is_not_found_exception());
    let topic_arn = sns.create_topic().name("t").send().await.unwrap().topic_arn().unwrap().to_owned();
    let e = sns
        .subscribe()
        .topic_arn(&topic_arn)
        .protocol("email")
        .endpoint("a@example.com")
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_invalid_parameter_exception());
    let e = sns
        .get_subscription_attributes()
        .subscription_arn(format!("{topic_arn}:nope"))
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_not_found_exception());
    let topics = sns.list_topics().send().await.unwrap();
    assert_eq!(topics.topics().len(), 1);
    sns.delete_topic().topic_arn(&topic_arn).send().await.unwrap();
    assert!(sns.list_topics().send().await.unwrap().topics().is_empty());
}

#[tokio::test]
async fn topics_and_subscriptions_are_bounded_by_the_configuration() {
    let config = ferry_sqs::SqsConfig { sns_max_topics: 1, sns_max_subscriptions: 1, ..Default::default() };
    let server = common::start_with(config).await;
    let sns = sns_client(&server.endpoint);
    let topic_arn = sns.create_topic().name("one").send().await.unwrap().topic_arn().unwrap().to_owned();
    assert_eq!(sns.create_topic().name("one").send().await.unwrap().topic_arn(), Some(topic_arn.as_str()));
    let e = sns.create_topic().name("two").send().await.unwrap_err();
    assert_eq!(e.into_service_error().meta().code(), Some("TopicLimitExceeded"));
    let endpoint = |q: &str| format!("arn:aws:sqs:us-east-1:000000000000:{q}");
    sns.subscribe().topic_arn(&topic_arn).protocol("sqs").endpoint(endpoint("a")).send().await.unwrap();
    let e = sns
        .subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(endpoint("b"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.into_service_error().meta().code(), Some("SubscriptionLimitExceeded"));
}

#[tokio::test]
async fn a_fifo_topic_publishes_batches_into_a_fifo_queue_in_group_order() {
    let server = common::start().await;
    let sns = sns_client(&server.endpoint);
    let topic_arn = sns
        .create_topic()
        .name("jobs.fifo")
        .attributes("FifoTopic", "true")
        .attributes("ContentBasedDeduplication", "true")
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_owned();
    let url = server.queue("jobs.fifo", &[("FifoQueue", "true")]).await;
    let arn = queue_arn(&server, &url).await;
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(&arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();
    let mut batch = sns.publish_batch().topic_arn(&topic_arn);
    for i in 0..3 {
        let entry = aws_sdk_sns::types::PublishBatchRequestEntry::builder()
            .id(format!("e{i}"))
            .message(format!("job {i}"))
            .message_group_id("g")
            .build()
            .unwrap();
        batch = batch.publish_batch_request_entries(entry);
    }
    let out = batch.send().await.unwrap();
    assert_eq!(out.successful().len(), 3);
    assert!(out.failed().is_empty());
    assert!(out.successful().iter().all(|s| s.sequence_number().is_some_and(|n| n.len() == 20)));
    assert_eq!(receive_bodies(&server, &url).await, ["job 0", "job 1", "job 2"]);
}
