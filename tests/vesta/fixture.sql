-- Vesta's tables as calsync meets them (../shared/VESTA.md): SingleStore in production, MariaDB
-- here. Only the primary keys are indexed, as in production; no foreign or unique keys.
-- timestamps hold UTC wall-clock time (every session runs with time_zone = '+00:00').
CREATE TABLE users (
    id                varchar(36) NOT NULL PRIMARY KEY,
    name              varchar(200) NOT NULL,
    email             varchar(255) NOT NULL,
    email_verified    boolean DEFAULT false,
    email_verified_at timestamp NULL,
    image             varchar(255),
    password          varchar(255),
    account_id        bigint,
    first_name        varchar(100) NOT NULL,
    last_name         varchar(100),
    phone             varchar(20),
    timezone          varchar(50) DEFAULT 'UTC',
    language          varchar(10) DEFAULT 'en',
    preferences       json,
    last_login        timestamp NULL,
    is_verified       boolean DEFAULT false,
    is_active         boolean DEFAULT true,
    created_at        timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at        timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP
);
CREATE TABLE sessions (
    id         varchar(36) NOT NULL PRIMARY KEY,
    token      varchar(255) NOT NULL,
    user_id    varchar(36) NOT NULL,
    expires_at timestamp NOT NULL,
    ip_address text,
    user_agent text,
    created_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP
);
-- BetterAuth's login providers (its "account" model), apart from Vesta's agencies
CREATE TABLE account (
    id                       varchar(36) NOT NULL PRIMARY KEY,
    account_id               text NOT NULL,
    provider_id              text NOT NULL,
    user_id                  varchar(36) NOT NULL,
    access_token             text,
    refresh_token            text,
    id_token                 text,
    access_token_expires_at  timestamp NULL,
    refresh_token_expires_at timestamp NULL,
    scope                    text,
    password                 text,
    created_at               timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at               timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP
);
CREATE TABLE verification (
    id         varchar(36) NOT NULL PRIMARY KEY,
    identifier text NOT NULL,
    value      text NOT NULL,
    expires_at timestamp NOT NULL,
    created_at timestamp NULL,
    updated_at timestamp NULL
);
CREATE TABLE accounts (
    account_id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name       varchar(255) NOT NULL,
    is_active  boolean DEFAULT true,
    created_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP
);
CREATE TABLE contacts (
    contact_id      bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,
    account_id      bigint NOT NULL,
    first_name      varchar(100) NOT NULL,
    last_name       varchar(100) NOT NULL,
    email           varchar(255),
    phone           varchar(20),
    additional_info json,
    is_active       boolean DEFAULT true,
    created_at      timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at      timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP
);
CREATE TABLE locations (
    neighborhood_id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,
    city            varchar(100) NOT NULL,
    province        varchar(100) NOT NULL,
    municipality    varchar(100) NOT NULL,
    neighborhood    varchar(100) NOT NULL
);
CREATE TABLE properties (
    property_id     bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,
    account_id      bigint NOT NULL,
    title           varchar(255),
    street          varchar(255),
    address_details varchar(255),
    postal_code     varchar(20),
    neighborhood_id bigint
);
CREATE TABLE listings (
    listing_id  bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,
    account_id  bigint NOT NULL,
    property_id bigint NOT NULL,
    agent_id    varchar(36) NOT NULL,
    status      varchar(20) NOT NULL
);
CREATE TABLE appointments (
    appointment_id     bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id            varchar(36) NOT NULL,
    contact_id         bigint NOT NULL,
    listing_id         bigint,
    listing_contact_id bigint,
    deal_id            bigint,
    prospect_id        bigint,
    datetime_start     timestamp NOT NULL,
    datetime_end       timestamp NOT NULL,
    trip_time_minutes  smallint,
    status             varchar(20) NOT NULL DEFAULT 'Scheduled',
    notes              text,
    type               varchar(50),
    assigned_to        varchar(36),
    edited_by          varchar(36),
    google_event_id    varchar(255),
    google_etag        varchar(255),
    last_synced_at     timestamp NULL,
    is_active          boolean DEFAULT true,
    created_at         timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at         timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP
);
CREATE TABLE user_integrations (
    integration_id     bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id            varchar(36) NOT NULL,
    provider           varchar(50) NOT NULL,
    access_token       text NOT NULL,
    refresh_token      text,
    expiry_date        timestamp NULL,
    calendar_id        varchar(255) DEFAULT 'primary',
    sync_token         text,
    channel_id         varchar(64),
    resource_id        varchar(255),
    channel_expiration timestamp NULL,
    sync_direction     varchar(20) DEFAULT 'vesta_to_google',
    is_active          boolean DEFAULT true,
    created_at         timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at         timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP
);
