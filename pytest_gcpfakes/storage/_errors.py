"""Cloud Storage JSON API errors, with the status, reason and wording GCS answers with."""

from __future__ import annotations

import datetime
from typing import Any, Literal
from xml.sax.saxutils import escape

# Sources. Each constructor cites one of these tags or a public issue thread, and says
# whether its wording is verified (quoted from a real GCS answer) or a guess.
# [status-codes] cloud.google.com/storage/docs/json_api/v1/status-codes: body layout,
#     domain "global", reasons "required", "forbidden", "notFound", "conflict".
# [preconditions] cloud.google.com/storage/docs/request-preconditions: ifGeneration(Not)Match
#     and ifMetageneration(Not)Match fail with 412, the NotMatch forms with 304.
# [zig-measured] bodies a public Zig GCS client keeps in its tests as "measured in
#     production" (2026; the search index did not name the repository):
#     412 conditionNotMet with locationType/location If-Match, 403 retentionPolicyNotMet,
#     403 holds, 404 "No such object", 404 "The specified bucket does not exist.".
# [zig-fake] the in-process fake of what appears to be the same Zig client (search index
#     file id 70073392256, repository not named), whose comments call its object-retention
#     refusals "as measured" and "production's 400s". Quoted, not checked against a live
#     answer: weaker than [zig-measured].
# [object-lock] cloud.google.com/storage/docs/object-lock: retain-until time at most
#     3,155,760,000 s ahead; Unlocked can be changed or removed (with
#     overrideUnlockedRetention, json_api/v1/objects/patch), Locked only lengthened;
#     retention only in buckets that enabled it; not together with an event-based hold.

#: Cloud Storage composes at most this many source objects in one request.
MAX_COMPOSE_SOURCES = 32

# Cloud Storage cuts a too-long name to this many characters in its message, "..."
# included. Inferred from the one sample we have (vault#18248: 77 characters, then "...").
_NAME_ECHO_LIMIT = 80


class GCSError(Exception):
    """An error answer of the fake JSON API, in Cloud Storage's words."""

    def __init__(
        self,
        status: int,
        message: str,
        reason: str,
        domain: str = "global",
        *,
        location_type: str | None = None,
        location: str | None = None,
        extended_help: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason
        self.domain = domain
        self.location_type = location_type
        self.location = location
        self.extended_help = extended_help
        #: Headers the answer carries besides the body (a 416's Content-Range).
        self.headers = dict(headers or {})

    def __repr__(self) -> str:
        return f"GCSError({self.status}, {self.message!r}, reason={self.reason!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception pickles only .args by default; keep every field (xdist, forked workers).
        return (type(self), (self.status, self.message, self.reason, self.domain), self.__dict__)

    def to_api_exception(self) -> Exception:
        """Return the ``google.api_core`` exception a client raises for this answer."""
        from google.api_core.exceptions import from_http_status

        error: Exception = from_http_status(self.status, self.message, errors=[self.to_json()])
        return error

    def to_json(self) -> dict[str, Any]:
        """Return the JSON body Cloud Storage sends with this error."""
        # Key order as GCS sends it: code, message, errors[message, domain, reason, ...].
        detail: dict[str, Any] = {
            "message": self.message,
            "domain": self.domain,
            "reason": self.reason,
        }
        if self.location_type is not None:
            detail["locationType"] = self.location_type
        if self.location is not None:
            detail["location"] = self.location
        if self.extended_help is not None:
            detail["extendedHelp"] = self.extended_help
        return {"error": {"code": self.status, "message": self.message, "errors": [detail]}}


# --- 404 -------------------------------------------------------------------------------


class XmlError(GCSError):
    """An error the XML API answers (signed URLs, POST forms, multipart uploads).

    Its body is ``<Error><Code/><Message/>…</Error>`` (cloud.google.com/storage/docs/
    xml-api/reference-status) with the details GCS adds after the message, such as
    ``StringToSign`` for a signature that does not match.
    """

    def __init__(self, status: int, code: str, message: str, **extra: str) -> None:
        super().__init__(status, message, code)
        self.extra = extra

    def to_xml(self) -> bytes:
        """The XML API's error body: Code, Message, then the details GCS adds."""
        parts = [
            f"<Code>{escape(self.reason)}</Code>",
            f"<Message>{escape(self.message)}</Message>",
        ]
        parts += [f"<{name}>{escape(value)}</{name}>" for name, value in self.extra.items()]
        return f"<?xml version='1.0' encoding='UTF-8'?><Error>{''.join(parts)}</Error>".encode()


def bucket_not_found() -> GCSError:
    """404: the bucket named in the request does not exist."""
    # Verified: "googleapi: Error 404: The specified bucket does not exist., notFound"
    # (Go client output, 2024; terraform GCS backend docs); [zig-measured].
    return GCSError(404, "The specified bucket does not exist.", "notFound")


def object_not_found(bucket: str, name: str) -> GCSError:
    """404: no live object of that name."""
    # Verified: "No such object: bucket/name" (firebase-tools#3647 curl against GCS;
    # java-storage#49; [zig-measured] "No such object: zigps-p3-3f1672/s/a").
    return GCSError(404, f"No such object: {bucket}/{name}", "notFound")


def generation_not_found(bucket: str, name: str, generation: int) -> GCSError:
    """404: the object exists, but not at the generation asked for."""
    # Guess: the same wording as a missing object, without the generation; no captured
    # answer for ?generation=N found. ``generation`` is taken so that the call site reads
    # right and the wording can follow a capture later without changing callers.
    return object_not_found(bucket, name)


def upload_not_found() -> GCSError:
    """404: a resumable-upload session URI the fake never issued (or cancelled)."""
    # Guess: GCS documents 404 for a session that no longer exists ("performing resumable
    # uploads"); the body text is ours.
    return GCSError(404, "No such upload session.", "notFound")


def multipart_upload_not_found() -> GCSError:
    """404: an XML API multipart upload id the fake never issued (or already finished)."""
    # XML API answers carry an error code (S3-compatible); "NoSuchUpload" and its message are
    # S3's words, assumed to be GCS's too (GCS documents the XML API as S3-compatible).
    return GCSError(404, "The requested upload was not found.", "NoSuchUpload")


def invalid_part_list() -> GCSError:
    """400: completing a multipart upload with missing or unordered parts."""
    # Same assumption as multipart_upload_not_found: S3's "InvalidPart" wording.
    return GCSError(
        400,
        "One or more of the specified parts could not be found or were out of order.",
        "InvalidPart",
    )


def notification_not_found() -> GCSError:
    """404: a notification configuration id the bucket does not have."""
    # Verified: [zig-measured] "The requested resource was not found.", reason notFound.
    return GCSError(404, "The requested resource was not found.", "notFound")


# --- 409 -------------------------------------------------------------------------------


def bucket_already_owned() -> GCSError:
    """409: creating a bucket the caller's project already owns."""
    # Verified: "409 POST .../storage/v1/b?project=...: You already own this bucket.
    # Please select another name." (python-docs-samples#3575, google.api_core Conflict).
    # A fake's buckets all belong to the caller, so this is the one it raises.
    return GCSError(409, "You already own this bucket. Please select another name.", "conflict")


def bucket_name_unavailable() -> GCSError:
    """409: creating a bucket someone else owns."""
    # Verified: "googleapi: Error 409: Sorry, that name is not available. Please try a
    # different one., conflict" (Go client output); GCS troubleshooting page, 409 Conflict.
    return GCSError(
        409, "Sorry, that name is not available. Please try a different one.", "conflict"
    )


def bucket_not_empty() -> GCSError:
    """409: deleting a bucket that still holds objects."""
    # Verified: python-storage#1071 (2023) and kestra plugin-gcp#321 (2024, full body,
    # reason "conflict"). Older answers (2018-2021) said "was not empty".
    return GCSError(409, "The bucket you tried to delete is not empty.", "conflict")


# --- 412 / 304: preconditions ------------------------------------------------------------


def precondition_failed() -> GCSError:
    """412: an ifGenerationMatch / ifMetagenerationMatch precondition did not hold."""
    # Verified: [zig-measured] and an upload with ifGenerationMatch (blog capture) both answer
    # this message with locationType "header", location "If-Match"; same words for generation
    # and metageneration. [preconditions] for the 412.
    return GCSError(
        412,
        "At least one of the pre-conditions you specified did not hold.",
        "conditionNotMet",
        location_type="header",
        location="If-Match",
    )


def not_modified() -> GCSError:
    """304: an ifGenerationNotMatch / ifMetagenerationNotMatch precondition did not hold."""
    # Status verified by [preconditions]. Reason and message are guesses: a 304 carries no
    # body on the wire, so the app should send none; to_json() exists only for uniformity.
    return GCSError(304, "Not Modified", "notModified")


# --- 400: names --------------------------------------------------------------------------


def invalid_bucket_name(name: str) -> GCSError:
    """400: a bucket name with characters, ends or a shape GCS refuses."""
    # Verified wording for upper-case letters: "googleapi: Error 400: Invalid bucket name:
    # 'newObject-f691b50', invalid" (pulumi-gcp#126); nodejs-storage#1652.
    return GCSError(400, f"Invalid bucket name: '{name}'", "invalid")


def restricted_bucket_name(name: str) -> GCSError:
    """400: a bucket name GCS refuses as too long or as naming Google."""
    # Verified wording for 65- and 67-character names: "Error 400: Use of this bucket name is
    # restricted: '...', invalid" (janelia-flyem/dvid#268, cloud-ops-sandbox#576); same
    # words for a name containing "google" (Cloud Composer troubleshooting notes).
    return GCSError(400, f"Use of this bucket name is restricted: '{name}'", "invalid")


def required() -> GCSError:
    """400: a required value is empty, e.g. an object or bucket name."""
    # Verified: "googleapi: Error 400: Required, required" for an empty object name
    # (google-cloud-go#196).
    return GCSError(400, "Required", "required")


def object_name_too_long(name: str) -> GCSError:
    """400: an object name over 1024 bytes of UTF-8."""
    # Verified wording: "400 The maximum object length is 1024 characters, but got a name
    # with 1028 characters: '2022-12-06T20:18:13Z/...-c4cb-...'" (hashicorp/vault#18248).
    # Guesses: the count is of UTF-8 bytes (the documented limit), and the echo is cut to
    # _NAME_ECHO_LIMIT characters, "..." included.
    size = len(name.encode("utf-8", "surrogatepass"))
    echo = name if len(name) <= _NAME_ECHO_LIMIT else name[: _NAME_ECHO_LIMIT - 3] + "..."
    return GCSError(
        400,
        f"The maximum object length is 1024 characters, but got a name with {size} "
        f"characters: '{echo}'",
        "invalid",
    )


def object_name_disallowed_characters() -> GCSError:
    """400: an object name with a carriage return, line feed or text that is not UTF-8."""
    # Verified wording: "Error 400: Disallowed unicode characters present in object name"
    # for a name with a newline (google-cloud-go#196, 2017). Reason "invalid" is a guess.
    return GCSError(400, "Disallowed unicode characters present in object name", "invalid")


def invalid_object_name(name: str) -> GCSError:
    """400: an object name GCS reserves: ".", "..", or under .well-known/acme-challenge/."""
    # Guess: the rule is documented (cloud.google.com/storage/docs/objects#naming), the
    # answer is not; worded like the bucket-name error.
    return GCSError(400, f"Invalid object name: '{name}'", "invalid")


# --- 400: requests -----------------------------------------------------------------------


def required_parameter(parameter: str) -> GCSError:
    """400: a required query parameter is missing, e.g. project on buckets.insert."""
    # Verified: "Error 400: Required parameter: project, required"
    # (google-api-go-client#110; nodejs "Error: Required parameter: project").
    return GCSError(400, f"Required parameter: {parameter}", "required")


def user_project_missing(*, xml: bool = False) -> GCSError:
    """400: a request on a requester-pays bucket that names no billing project."""
    # Verified: full JSON body in Superbalist/laravel-google-cloud-storage#44 (2018) and
    # opentargets/issues#2338 (2019): 400, reason "required", then worded "Bucket is
    # requester pays bucket ..."; since about 2022 GCS says "Bucket is a requester pays
    # bucket but no user project provided." (hail's 0.2.97 changelog, 2022;
    # MystenLabs/sui#15026, 2023; a Crossplane report quoting the Go client: "googleapi:
    # Error 400: Bucket is a requester pays bucket but no user project provided.,
    # required"). The XML API's code "UserProjectMissing" is named in forseti-security#1300.
    return GCSError(
        400,
        "Bucket is a requester pays bucket but no user project provided.",
        "UserProjectMissing" if xml else "required",
    )


def md5_mismatch(provided: str, calculated: str) -> GCSError:
    """400: an upload whose declared MD5 does not match its bytes (base64 digests)."""
    # Verified wording: gsutil's own help: 'BadRequestException: 400 Provided MD5 hash
    # "VgyllJgiiaRAbyUUIqDMmw==" doesn't match calculated MD5 hash "7gyllJgiiaRAbyUUIqDMmw==".'
    # Reason "invalid" is a guess (gcp-storage-emulator and other fakes use it).
    return GCSError(
        400,
        f'Provided MD5 hash "{provided}" doesn\'t match calculated MD5 hash "{calculated}".',
        "invalid",
    )


def crc32c_mismatch(provided: str, calculated: str) -> GCSError:
    """400: an upload whose declared CRC32C does not match its bytes (base64 digests)."""
    # Verified wording: 'Provided CRC32C "AAAAAA==" doesn't match calculated CRC32C
    # "n/7wpQ=="' (a Go client test quoting GCS; nodejs-storage system test). The final "."
    # (as in the MD5 message) and the reason "invalid" are guesses.
    return GCSError(
        400,
        f'Provided CRC32C "{provided}" doesn\'t match calculated CRC32C "{calculated}".',
        "invalid",
    )


def too_many_compose_sources(count: int) -> GCSError:
    """400: a compose request with more than MAX_COMPOSE_SOURCES source objects."""
    # Verified body: fake-gcs-server#1254 quotes GCS's answer, reason "invalid";
    # minio#9646 "googleapi: Error 400: The number of source components provided (37)
    # exceeds the maximum (32), invalid".
    return GCSError(
        400,
        f"The number of source components provided ({count}) exceeds the maximum "
        f"({MAX_COMPOSE_SOURCES})",
        "invalid",
    )


def invalid_rewrite_token() -> GCSError:
    """400: a rewrite call with a rewriteToken the fake never issued."""
    # Guess: GCS's generic answer to a bad parameter value ("Invalid Value, invalid",
    # google-cloud-go#196). No captured answer for a bad token was found.
    return GCSError(400, "Invalid Value", "invalid")


def upload_offset_gap(offset: int, persisted: int) -> GCSError:
    """400: a resumable-upload chunk that starts past the bytes persisted so far."""
    # Guess from memory of GCS answers (not found in the search index): "Invalid request.
    # According to the Content-Range header, the upload offset is N byte(s), which exceeds
    # already uploaded size of M byte(s)."
    return GCSError(
        400,
        f"Invalid request.  According to the Content-Range header, the upload offset is "
        f"{offset} byte(s), which exceeds already uploaded size of {persisted} byte(s).",
        "invalid",
    )


def upload_total_changed(before: int, now: int) -> GCSError:
    """400: a resumable-upload chunk that declares a different total size than before."""
    # Guess: no captured answer; GCS refuses it, wording ours.
    return GCSError(
        400,
        f"Invalid request. The total object size changed from {before} to {now} byte(s).",
        "invalid",
    )


def upload_too_long(total: int, received: int) -> GCSError:
    """400: a resumable upload that sent more bytes than its declared total."""
    # Guess: no captured answer; wording ours.
    return GCSError(
        400,
        f"Invalid request. The upload sent {received} byte(s), more than the declared "
        f"total of {total} byte(s).",
        "invalid",
    )


def bad_content_range(value: str) -> GCSError:
    """400: a resumable-upload chunk whose Content-Range header does not parse or fit."""
    # Guess: no captured answer; wording ours.
    return GCSError(400, f"Invalid Content-Range header: {value!r}.", "invalid")


# --- 400: notification configurations ---------------------------------------------------


def invalid_topic() -> GCSError:
    """400: a notification configuration whose topic is not a Pub/Sub topic name."""
    # Verified: python-storage#617 (a maintainer quotes the server's 400 for a body
    # without a topic); [zig-measured] the same words for malformed topics, reason
    # "invalid".
    return GCSError(
        400,
        "Invalid Google Cloud Pub/Sub topic. It should look like "
        "'//pubsub.googleapis.com/projects/*/topics/*.'",
        "invalid",
    )


def topic_not_found(topic: str, service_agent: str) -> GCSError:
    """400: a notification configuration for a Pub/Sub topic that does not exist."""
    # Verified: nodejs-storage#1402 (2021, 400 reason "invalid", "Cloud Pub/Sub topic
    # '//pubsub.googleapis.com/projects/P/topics/T' not found, or user
    # 'service-N@gs-project-accounts.iam.gserviceaccount.com' does not have permission to
    # it."); [zig-measured] the same for a missing topic. A topic that exists but that the
    # service agent may not publish to is a 403 instead ("The service account '...' does
    # not have permission to publish messages to to the Cloud Pub/Sub topic '...', or that
    # topic does not exist.", google-cloud-python#3956, terraform-provider-google#4354);
    # the fake keeps no IAM on topics, so it never answers that one.
    return GCSError(
        400,
        f"Cloud Pub/Sub topic '{topic}' not found, or user '{service_agent}' does not "
        "have permission to it.",
        "invalid",
    )


def payload_format_required() -> GCSError:
    """400: a notification configuration without a valid payload_format."""
    # Verified: [zig-measured], reason "required".
    return GCSError(
        400, "You must specify a payload format in the 'payload_format' field.", "required"
    )


def too_many_custom_attributes(count: int) -> GCSError:
    """400: a notification configuration with more than 5 custom attributes."""
    # Verified: [zig-measured].
    return GCSError(
        400, f"Maximum of 5 custom attributes, notification config had {count}", "invalid"
    )


def custom_attribute_key_empty() -> GCSError:
    """400: a notification configuration with an empty custom attribute key."""
    # Verified: [zig-measured].
    return GCSError(400, "Custom attribute keys may not be empty", "invalid")


def custom_attribute_key_too_long(key: str) -> GCSError:
    """400: a custom attribute key over 256 characters."""
    # Verified: [zig-measured].
    return GCSError(
        400,
        f"Notification keys may not be longer than 256 characters, but key '{key}' "
        f"contains {len(key)} characters.",
        "invalid",
    )


def custom_attribute_value_too_long(value: str) -> GCSError:
    """400: a custom attribute value over 1024 characters."""
    # Verified: [zig-measured].
    return GCSError(
        400,
        f"Notification values may not be longer than 1024 characters, but value '{value}' "
        f"contains {len(value)} characters.",
        "invalid",
    )


def too_many_overlapping_notifications() -> GCSError:
    """400: an 11th notification configuration firing for the same event type."""
    # Verified: [zig-measured]; the limit of 10 is documented (pubsub-notifications).
    return GCSError(400, "Too many overlapping notifications. The maximum is 10.", "invalid")


# --- 403 ----------------------------------------------------------------------------------


def object_retained(bucket: str, name: str, until: datetime.datetime) -> GCSError:
    """403: overwriting or deleting an object its retention keeps until ``until``."""
    # Verified: [zig-measured] "Object 'b/p' is subject to bucket's retention policy or object
    # retention and cannot be deleted or overwritten until 2026-09-30T15:58:01.185839-07:00",
    # reason retentionPolicyNotMet. GCS printed Pacific time; the fake prints UTC
    # (a naive ``until`` is taken as UTC), always with microseconds as GCS does.
    if until.tzinfo is None:
        until = until.replace(tzinfo=datetime.timezone.utc)
    else:
        until = until.astimezone(datetime.timezone.utc)
    stamp = until.isoformat(timespec="microseconds")
    return GCSError(
        403,
        f"Object '{bucket}/{name}' is subject to bucket's retention policy or object "
        f"retention and cannot be deleted or overwritten until {stamp}",
        "retentionPolicyNotMet",
    )


def object_retention_not_enabled() -> GCSError:
    """400: a retention configuration on an object whose bucket has no Object Retention Lock."""
    # [object-lock] for the rule; wording and reason from [zig-fake].
    return GCSError(400, "Object retention is not enabled on the bucket.", "invalid")


def retention_field_missing(field: Literal["mode", "retain until time"]) -> GCSError:
    """400: a retention configuration with a mode but no retain-until time, or the reverse."""
    # Wording and reason from [zig-fake] ("Missing retention mode. ..." and "Missing retain
    # until time. ...").
    return GCSError(
        400,
        f"Missing {'retention mode' if field == 'mode' else field}. Both mode and retain "
        "until time are required.",
        "invalid",
    )


def invalid_retention_mode(mode: object) -> GCSError:
    """400: a retention mode other than Unlocked and Locked."""
    # Wording and reason from [zig-fake].
    return invalid_enum_value(mode)


def invalid_retain_until_time() -> GCSError:
    """400: a retainUntilTime that is not an RFC 3339 time with a zone."""
    # Wording and reason from [zig-fake] (GCS's protobuf Timestamp parse error).
    return invalid_timestamp("retainUntilTime")


def retain_until_in_the_past() -> GCSError:
    """400: a retain-until time that is not in the future."""
    # Wording and reason from [zig-fake].
    return GCSError(400, "Retain until time cannot be in the past.", "invalid")


def retain_until_too_far() -> GCSError:
    """400: a retain-until time more than 100 years ahead."""
    # Guess: the limit is documented ([object-lock], 3,155,760,000 seconds), the answer is
    # not; wording ours, in the style of the one above.
    return GCSError(
        400, "Retain until time cannot be more than 100 years in the future.", "invalid"
    )


def retention_with_event_based_hold() -> GCSError:
    """400: a retention configuration and an event-based hold on the same object."""
    # [object-lock] for the rule; wording and reason from [zig-fake].
    return GCSError(
        400, "Retention and event based holds cannot be configured together.", "invalid"
    )


def unlocked_retention_override_required() -> GCSError:
    """403: removing, shortening or locking an Unlocked retention without the override."""
    # Rule: objects.patch's overrideUnlockedRetention. Wording and reason from [zig-fake].
    return GCSError(
        403,
        "The unlocked object retention cannot be removed and its retention period cannot be "
        "shortened without overriding unlocked retention intent and permission.",
        "forbidden",
    )


def locked_retention_unchangeable() -> GCSError:
    """403: removing, shortening or unlocking a Locked retention, which nothing allows."""
    # Rule: [object-lock]. Wording and reason from [zig-fake].
    return GCSError(
        403,
        "The locked object retention cannot be removed. Its retention mode cannot be changed "
        "and its retention period cannot be shortened.",
        "forbidden",
    )


def retention_policy_locked(bucket: str) -> GCSError:
    """400: shortening a locked retention policy."""
    # [status-codes] lists it under 400: reason "badRequestException", "The retention period
    # on a locked bucket cannot be reduced." Taken as the answer's message too. ``bucket``
    # is taken so that a capture naming it can be followed without changing callers.
    return GCSError(
        400, "The retention period on a locked bucket cannot be reduced.", "badRequestException"
    )


def retention_policy_lock_removed(bucket: str) -> GCSError:
    """403: removing a locked retention policy (null, {}, or an update without it)."""
    # Verified status: python-storage's system test test_bucket_lock_retention_policy, run
    # against GCS itself, patches retentionPolicy null on a locked bucket and expects
    # Forbidden (403), not the 400 of a shortened period. Reason "forbidden" and the
    # wording are guesses, worded like the documented 400.
    return GCSError(403, "The retention policy on a locked bucket cannot be removed.", "forbidden")


def object_held(bucket: str, name: str, hold: Literal["Temporary", "Event-Based"]) -> GCSError:
    """403: overwriting or deleting an object under a temporary or event-based hold."""
    # Verified: [zig-measured] "Object 'b/th' is under active Temporary hold and cannot be
    # deleted, overwritten or archived until hold is removed.", reason "forbidden"; the same
    # with "Event-Based".
    return GCSError(
        403,
        f"Object '{bucket}/{name}' is under active {hold} hold and cannot be deleted, "
        "overwritten or archived until hold is removed.",
        "forbidden",
    )


# --- 400: values a request body or query gives ------------------------------------------
# The schemas of what a request may write are in _schema; these are their refusals.


def invalid_value() -> GCSError:
    """400: a field of a request body with a value of the wrong type or shape."""
    # Verified as GCS's generic refusal of a bad value: the whole body {"code": 400,
    # "message": "Invalid argument.", "errors": [{"message": "Invalid argument.", "domain":
    # "global", "reason": "invalid"}]} (google-cloud-cpp#7223, 2021; "Error 400: Invalid
    # argument., invalid" in google-cloud-go#614), and "Invalid argument" for a lifecycle
    # condition of the wrong type (terraform-google-cloud-storage#118, 2021). That GCS
    # answers every ill-typed field so: wording: guess.
    return GCSError(400, "Invalid argument.", "invalid")


def invalid_timestamp(field: str) -> GCSError:
    """400: a field that takes an RFC 3339 time with a zone and got something else."""
    # Verified for retainUntilTime ([zig-fake], GCS's protobuf Timestamp parse error);
    # the same words naming other time fields (customTime, lockedTime): wording: guess.
    return GCSError(
        400,
        "Parse Error: Invalid value for type.googleapis.com/google.protobuf.Timestamp field: "
        f"'Field '{field}', Illegal timestamp format; timestamps must end with 'Z' or "
        "have a valid timezone offset.'.",
        "invalid",
    )


def invalid_enum_value(value: object) -> GCSError:
    """400: a field that takes one of a few names (a storage class, a rule's action) and
    got another."""
    # Verified for retention.mode ([zig-fake]); the same words for other enumerated fields:
    # wording: guess.
    return GCSError(400, f"Invalid value for: {value} is not a valid value", "invalid")


def invalid_parameter_value(name: str, value: str, allowed: tuple[str, ...]) -> GCSError:
    """400: an enumerated query parameter (projection, uploadType, …) given another value."""
    # Google's API front end answers so, naming the parameter in location (verified on the
    # YouTube Data API, served by the same front end as the JSON API: "Invalid string
    # value: 'views'. Allowed values: [date, rating, ...]", reason invalidParameter,
    # locationType parameter, location order; [status-codes] documents locationType
    # "parameter" with location "projection"). For GCS's parameters: wording: guess.
    return GCSError(
        400,
        f"Invalid string value: '{value}'. Allowed values: [{', '.join(allowed)}]",
        "invalidParameter",
        location_type="parameter",
        location=name,
    )


def repeated_parameter(name: str) -> GCSError:
    """400: a query that names one of the JSON API's single-valued parameters twice."""
    # wording: guess. Nothing on record says whether GCS refuses a repeated parameter or
    # takes one of its values; refusing keeps a request that means two things from meaning
    # whichever one the fake happened to read.
    return GCSError(
        400,
        f"The parameter '{name}' may be given only once.",
        "invalidParameter",
        location_type="parameter",
        location=name,
    )


def wrong_url_for_upload() -> GCSError:
    """400: an upload sent without uploadType, or to the metadata URL instead of /upload/."""
    # Verified wording and extendedHelp: a capture kept in a Perl Google API client's
    # example (GCS's answer to objects.insert on /storage/v1/b/B/o); reason
    # "wrongUrlForUpload" as another public fake quotes it. The same answer to a POST on
    # /upload/ without uploadType: wording: guess.
    return GCSError(
        400,
        "Upload requests must include an uploadType URL parameter and a URL path beginning "
        "with /upload/",
        "wrongUrlForUpload",
        extended_help="https://cloud.google.com/storage/docs/json_api/v1/how-tos/upload",
    )


def bad_content_length(value: str) -> GCSError:
    """400: a Content-Length that is not a number of bytes (RFC 9110 §8.6)."""
    # wording: guess (GCS's front end answers such requests before GCS sees them).
    # The body's end is unknown: the connection cannot carry another request.
    return GCSError(
        400,
        f"Invalid Content-Length header: {value!r}.",
        "invalid",
        headers={"Connection": "close"},
    )


def request_too_large(length: int) -> GCSError:
    """413: a request body larger than GCS takes in one request (5 TiB)."""
    # The limit is documented (cloud.google.com/storage/quotas: "The maximum size of a
    # single upload request is also 5 TB"); the reason "uploadTooLarge" and the words:
    # wording: guess.
    return GCSError(
        413,
        f"The request body of {length} bytes is larger than the 5 TiB a request may carry.",
        "uploadTooLarge",
        headers={"Connection": "close"},  # the unread body is still on the connection
    )


def malformed_batch(detail: str) -> GCSError:
    """400: a batch request whose body is not a multipart/mixed list of HTTP requests."""
    # wording: guess.
    return GCSError(400, f"Failed to parse batch request: {detail}", "invalid")


def malformed_xml() -> XmlError:
    """400: an XML API request body (a multipart upload's part list) that does not parse."""
    # S3's code and words (GCS documents its XML API as S3-compatible): wording: guess.
    return XmlError(
        400,
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our "
        "published schema.",
    )


# --- 400: customer-supplied encryption keys ---------------------------------------------
# Reasons and their descriptions: [status-codes] (all 400). [zig-keys] the test harness of a
# public Zig GCS client (search index file id 70378775105), whose first answer is marked
# "Measured"; the others are its bodies for the same refusals.


def resource_encrypted_with_csek() -> GCSError:
    """400: reading the data of an object encrypted with a customer-supplied key without it."""
    # Verified: 400 "The target object is encrypted by a customer-supplied encryption key."
    # (googleapis/java-storage ITObjectTest against production, JSON; the media download's
    # body in google-resumable-media-python's system tests, ENCRYPTED_ERR); reason from
    # [status-codes] and [zig-keys]. Media downloads answer it as plain text ([zig-keys]).
    return GCSError(
        400,
        "The target object is encrypted by a customer-supplied encryption key.",
        "resourceIsEncryptedWithCustomerEncryptionKey",
    )


def csek_incorrect() -> GCSError:
    """400: a customer-supplied key whose SHA-256 is not the one the object was written with."""
    # Verified: "The provided encryption key is incorrect." ([status-codes] description;
    # gsutil's test_compose asserts "provided encryption key is incorrect" from GCS; the
    # body in [zig-keys]), reason customerEncryptionKeyIsIncorrect.
    return GCSError(
        400, "The provided encryption key is incorrect.", "customerEncryptionKeyIsIncorrect"
    )


def resource_not_encrypted_with_csek() -> GCSError:
    """400: a customer-supplied key sent to read an object that was written without one."""
    # Reason: [status-codes]; message: [zig-keys] (unmarked).
    return GCSError(
        400,
        "The target object is not encrypted by a customer-supplied encryption key.",
        "resourceNotEncryptedWithCustomerEncryptionKey",
    )


def csek_algorithm_invalid() -> GCSError:
    """400: key headers whose x-goog-encryption-algorithm is missing or not AES256."""
    # Reason and words: [status-codes]'s description (which spells the algorithm "AE256");
    # that the answer's message is the description: wording: guess.
    return GCSError(
        400,
        'Missing an encryption algorithm, or the provided algorithm is not "AES256".',
        "customerEncryptionAlgorithmIsInvalid",
    )


def csek_key_format_invalid() -> GCSError:
    """400: an x-goog-encryption-key that is missing, not base64 or not 32 bytes."""
    # Verified up to "or it is not base64": "400 Missing an encryption key, or it is not
    # base64 ..." (google-cloud-python#1959, 2016); the rest and the reason: [status-codes].
    return GCSError(
        400,
        "Missing an encryption key, or it is not base64 encoded, or it does not meet the "
        "required length of the encryption algorithm.",
        "customerEncryptionKeyFormatIsInvalid",
    )


def csek_key_sha256_invalid() -> GCSError:
    """400: an x-goog-encryption-key-sha256 that is missing or not the key's SHA-256."""
    # Reason and words: [status-codes]; the same message in storage-testbench's csek error
    # and [zig-keys]'s fake.
    return GCSError(
        400,
        "Missing a SHA256 hash of the encryption key, or it is not base64 encoded, or it "
        "does not match the encryption key.",
        "customerEncryptionKeySha256IsInvalid",
    )


# --- 416 ----------------------------------------------------------------------------------


def range_not_satisfiable(size: int | None = None) -> GCSError:
    """416: a Range header that starts at or past the end of an object of ``size`` bytes."""
    # Status verified (python-storage#399/#403, google-cloud-go#242: 416 for a range past
    # the end, including bytes=0- on an empty object). Message and reason are guesses: no
    # captured body found; the reason follows the JSON API's camel-cased status names.
    # Content-Range "bytes */SIZE": RFC 9110 §15.5.17, and GCS's own answer as
    # fake-gcs-server#2253 describes it.
    return GCSError(
        416,
        "Request range not satisfiable",
        "requestedRangeNotSatisfiable",
        headers={} if size is None else {"Content-Range": f"bytes */{size}"},
    )


# --- the fake's own --------------------------------------------------------------------


def invalid_object_context(what: str, text: str) -> GCSError:
    """400: an object context key or value GCS's naming rules refuse (or a google: key)."""
    # Rules: use-object-contexts (naming requirements), object-contexts (google: keys
    # reserved). Wording: guess; reason "invalid" as for other bad values.
    return GCSError(400, f"Invalid object context {what}: '{text}'", "invalid")


def invalid_filter(text: str) -> GCSError:
    """400: an objects.list ``filter`` the fake cannot read (guess: wording not on record)."""
    return GCSError(400, f"Invalid filter: {text}", "invalid")


def invalid_argument(message: str) -> GCSError:
    """400: a malformed request (bad parameter value, unparsable body)."""
    return GCSError(400, message, "invalid")


def not_implemented(method: str, path: str, *, api: str = "JSON") -> GCSError:
    """501: a JSON (or XML) API call pytest-gcpfakes does not serve (yet)."""
    return GCSError(
        501,
        f"pytest-gcpfakes does not implement {method} {path} of the Cloud Storage {api} API yet.",
        "notImplemented",
    )
