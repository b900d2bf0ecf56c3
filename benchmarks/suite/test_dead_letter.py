"""Dead-lettering: a message nacked too often moves to the dead-letter topic."""

from __future__ import annotations

ATTEMPTS = 5  # the fewest Pub/Sub allows


def _dead_letter_setup(stack):
    topic = stack.topic("work")
    dead_topic = stack.topic("work-dead")
    dead = stack.subscription(dead_topic, "work-dead-sub")
    subscription = stack.subscription(
        topic,
        "work-sub",
        dead_letter_policy={"dead_letter_topic": dead_topic, "max_delivery_attempts": ATTEMPTS},
    )
    return topic, subscription, dead


def _nack_until_dead(stack, subscription, attempts):
    seen = []
    for _ in range(attempts):
        received = stack.pull(subscription, 1)
        seen.append(received[0].delivery_attempt)
        stack.nack(subscription, received)
    return seen


def test_delivery_attempts_count_up(stack):
    topic, subscription, _ = _dead_letter_setup(stack)
    stack.publisher.publish(topic, b"poison").result(timeout=30)
    assert _nack_until_dead(stack, subscription, 3) == [1, 2, 3]


def test_a_poison_message_moves_to_the_dead_letter_topic(stack):
    topic, subscription, dead = _dead_letter_setup(stack)
    stack.publisher.publish(topic, b"poison").result(timeout=30)
    _nack_until_dead(stack, subscription, ATTEMPTS)
    stack.pull_now(subscription)  # the emulator forwards when it would deliver again
    [received] = stack.pull(dead, 1)
    assert received.message.data == b"poison"


def test_a_dead_lettered_message_names_its_source(stack):
    topic, subscription, dead = _dead_letter_setup(stack)
    stack.publisher.publish(topic, b"poison", kind="bad").result(timeout=30)
    _nack_until_dead(stack, subscription, ATTEMPTS)
    stack.pull_now(subscription)
    [received] = stack.pull(dead, 1)
    attributes = dict(received.message.attributes)
    assert attributes["kind"] == "bad"
    assert attributes["CloudPubSubDeadLetterSourceSubscription"] == subscription.split("/")[-1]
    assert attributes["CloudPubSubDeadLetterSourceDeliveryCount"] == str(ATTEMPTS)


def test_a_message_acked_in_time_never_reaches_the_dead_letter_topic(stack):
    topic, subscription, dead = _dead_letter_setup(stack)
    stack.publisher.publish(topic, b"fine").result(timeout=30)
    _nack_until_dead(stack, subscription, ATTEMPTS - 1)
    stack.ack(subscription, stack.pull(subscription, 1))
    assert stack.pull_now(subscription) == []
    assert stack.pull_now(dead) == []


def test_only_the_poison_message_is_dead_lettered(stack):
    topic, subscription, dead = _dead_letter_setup(stack)
    for future in [stack.publisher.publish(topic, d) for d in (b"good", b"poison")]:
        future.result(timeout=30)
    dead_lettered = False
    while not dead_lettered:
        for received in stack.pull(subscription, 1):
            if received.message.data == b"good":
                stack.ack(subscription, [received])
            else:
                stack.nack(subscription, [received])
                dead_lettered = received.delivery_attempt == ATTEMPTS
    stack.pull_now(subscription)
    assert [r.message.data for r in stack.pull(dead, 1)] == [b"poison"]
