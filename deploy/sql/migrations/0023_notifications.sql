-- (#16) Notifications of alarms: who is told, over which channel, and what was sent.
--
-- The dispatcher (`fenlei notify`) reads `alarms` (0021) and plans steps per alarm:
-- `open` (the duty audience), `escalate` (the committee, when nobody acknowledged in
-- time), `remind-<n>` (one per interval while it stays open) and `resolved`. A step is
-- planned once (notify_plans' key) and fans out to one outbox row per channel
-- (notify_outbox's key): that is what makes a delivery happen once per (alarm, step,
-- channel) however often the dispatcher polls or restarts.

-- Per estate: the property company's contact (told with the volunteers on duty), how
-- long before the committee hears of an unacknowledged alarm, reminders, quiet hours.
CREATE TABLE notify_settings (
    estate_id         text PRIMARY KEY REFERENCES estates (id) ON DELETE CASCADE,
    property_name     text CHECK (length(property_name) <= 200),
    property_phone    text CHECK (length(property_phone) <= 40),
    property_email    text CHECK (length(property_email) <= 254),
    escalate_minutes  integer NOT NULL DEFAULT 10 CHECK (escalate_minutes BETWEEN 1 AND 1440),
    reminder_minutes  integer NOT NULL DEFAULT 30 CHECK (reminder_minutes BETWEEN 1 AND 1440),
    -- Local clock times; both NULL: no quiet hours. An end at or before the start runs
    -- past midnight (22:00-07:00).
    quiet_start       time,
    quiet_end         time,
    -- Kinds told at once even in quiet hours (a full wet bin smells by morning).
    urgent_kinds      text[] NOT NULL DEFAULT '{overflow,odour}',
    send_resolved     boolean NOT NULL DEFAULT true,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL))
);

-- A channel of an estate. Its secret part (a webhook URL with its key, DingTalk's
-- signing secret, an SMTP password) must be usable to send, so it cannot be hashed:
-- it is a Fernet token under FENLEI_CHANNEL_KEY, and `secret_hint` is the masked form
-- every listing shows.
CREATE TABLE notify_channels (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    estate_id   text NOT NULL REFERENCES estates (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    kind        text NOT NULL CHECK (kind IN ('webhook', 'wecom', 'dingtalk', 'email')),
    -- duty: the volunteers on duty and the property contact; committee: escalation.
    audience    text NOT NULL CHECK (audience IN ('duty', 'committee')),
    -- What is not secret: SMTP host, port, sender, recipients; a robot's format.
    config      jsonb NOT NULL DEFAULT '{}',
    secret      bytea NOT NULL,
    secret_hint text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (estate_id, name)
);

-- One row per step the dispatcher decided on for an alarm.
CREATE TABLE notify_plans (
    alarm_id   bigint NOT NULL REFERENCES alarms (id) ON DELETE CASCADE,
    step       text NOT NULL CHECK (step ~ '^(open|escalate|resolved|remind-[0-9]{1,6})$'),
    -- When it goes out: the planning instant, or the end of quiet hours.
    due_at     timestamptz NOT NULL,
    planned_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (alarm_id, step)
);

-- One delivery to make: claimed FOR UPDATE SKIP LOCKED, marked sent in the
-- transaction that writes its log row.
CREATE TABLE notify_outbox (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alarm_id   bigint NOT NULL,
    step       text NOT NULL,
    channel_id bigint NOT NULL REFERENCES notify_channels (id) ON DELETE CASCADE,
    -- {"text": ..., "title": ..., "mentions": [phones], "emails": [addresses]}
    message    jsonb NOT NULL,
    due_at     timestamptz NOT NULL,
    attempts   integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- cancelled: acknowledged or resolved before it went out.
    state      text NOT NULL DEFAULT 'pending'
               CHECK (state IN ('pending', 'sent', 'failed', 'cancelled')),
    sent_at    timestamptz,
    FOREIGN KEY (alarm_id, step) REFERENCES notify_plans ON DELETE CASCADE,
    UNIQUE (alarm_id, step, channel_id)
);
CREATE INDEX notify_outbox_due ON notify_outbox (due_at) WHERE state = 'pending';

-- Every attempt, successful or not, for operators (never a secret: `detail` is an
-- HTTP status or an error with the channel's URL masked).
CREATE TABLE notify_deliveries (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    estate_id    text NOT NULL REFERENCES estates (id) ON DELETE CASCADE,
    outbox_id    bigint REFERENCES notify_outbox (id) ON DELETE SET NULL,
    -- NULL for a test message.
    alarm_id     bigint,
    step         text NOT NULL,
    channel_id   bigint REFERENCES notify_channels (id) ON DELETE SET NULL,
    channel_name text NOT NULL,
    attempt      integer NOT NULL CHECK (attempt >= 1),
    at           timestamptz NOT NULL DEFAULT now(),
    ok           boolean NOT NULL,
    detail       text NOT NULL CHECK (length(detail) <= 500)
);
CREATE INDEX notify_deliveries_estate ON notify_deliveries (estate_id, at DESC);
