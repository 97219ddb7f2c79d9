CREATE TABLE gw_fixture_v1.audit_events (
    seq bigint NOT NULL,
    at timestamp with time zone NOT NULL,
    consumer text NOT NULL,
    end_user text NOT NULL,
    purpose text NOT NULL,
    request_id text NOT NULL,
    code text NOT NULL,
    owner text NOT NULL,
    subject text NOT NULL,
    decision text NOT NULL,
    grant_id text NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL
);
CREATE TABLE gw_fixture_v1.audit_head (
    id integer NOT NULL,
    seq bigint NOT NULL,
    hash text NOT NULL,
    CONSTRAINT audit_head_id_check CHECK ((id = 1))
);
CREATE TABLE gw_fixture_v1.grants (
    id text NOT NULL,
    consumer text NOT NULL,
    purpose text NOT NULL,
    codes text[] NOT NULL,
    department text NOT NULL,
    request_id text,
    granted_by text NOT NULL,
    created_at timestamp with time zone NOT NULL,
    valid_until timestamp with time zone,
    revoked_at timestamp with time zone,
    revoked_by text DEFAULT ''::text NOT NULL
);
CREATE TABLE gw_fixture_v1.schema_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);
CREATE TABLE gw_fixture_v1.sharing_requests (
    id text NOT NULL,
    requester text NOT NULL,
    requested_by text NOT NULL,
    department text NOT NULL,
    codes text[] NOT NULL,
    purpose text NOT NULL,
    justification text NOT NULL,
    status text NOT NULL,
    created_at timestamp with time zone NOT NULL,
    deadline timestamp with time zone NOT NULL,
    decided_at timestamp with time zone,
    decided_by text DEFAULT ''::text NOT NULL,
    reason text DEFAULT ''::text NOT NULL,
    valid_until timestamp with time zone,
    grant_id text DEFAULT ''::text NOT NULL,
    CONSTRAINT sharing_requests_department_check CHECK ((department <> ''::text)),
    CONSTRAINT sharing_requests_purpose_check CHECK ((purpose <> ''::text)),
    CONSTRAINT sharing_requests_requester_check CHECK ((requester <> ''::text)),
    CONSTRAINT sharing_requests_status_check CHECK ((status = ANY (ARRAY['PENDING'::text, 'APPROVED'::text, 'REJECTED'::text])))
);
INSERT INTO gw_fixture_v1.audit_events VALUES (1, '2026-11-27 09:30:00.123456+00', 'online-hall', 'clerk-7', 'administrative-approval', 'req-0', '310115-PSB-RK01-002', 'psb', '310115198503120012', 'ALLOW', 'GR-1', '', 'f47632d0fbf6fc0fae2bad9056c653da8c065143e0a9d92cf56e8db469a80e0c');
INSERT INTO gw_fixture_v1.audit_events VALUES (2, '2026-11-27 09:31:00.123456+00', 'online-hall', 'clerk-7', 'administrative-approval', 'req-1', '310115-PSB-RK01-002', 'psb', '310115198503120012', 'ALLOW', 'GR-1', 'f47632d0fbf6fc0fae2bad9056c653da8c065143e0a9d92cf56e8db469a80e0c', '0876e3dda48fc0bdb172c648dd355e5451f48a8020c1ea20301b389adaa0ad95');
INSERT INTO gw_fixture_v1.audit_events VALUES (3, '2026-11-27 09:32:00.123456+00', 'online-hall', 'clerk-7', 'administrative-approval', 'req-2', '310115-PSB-RK01-002', 'psb', '310115198503120012', 'ALLOW', 'GR-1', '0876e3dda48fc0bdb172c648dd355e5451f48a8020c1ea20301b389adaa0ad95', 'b5d4bf7abbe53cca6c75b2c3b103856b2ec8d2b519364423c70a09fcad85f6a2');
INSERT INTO gw_fixture_v1.audit_events VALUES (4, '2026-11-27 09:33:00.123456+00', 'online-hall', 'clerk-7', 'administrative-approval', 'req-3', '310115-PSB-RK01-002', 'psb', '310115198503120012', 'ALLOW', 'GR-1', 'b5d4bf7abbe53cca6c75b2c3b103856b2ec8d2b519364423c70a09fcad85f6a2', 'ac060aa1a61489197ec779735a7773e3fb613b341a8356cc6ab811708ecea96f');
INSERT INTO gw_fixture_v1.audit_events VALUES (5, '2026-11-27 09:34:00.123456+00', 'online-hall', 'clerk-7', 'administrative-approval', 'req-4', '310115-PSB-RK01-002', 'psb', '310115198503120012', 'ALLOW', 'GR-1', 'ac060aa1a61489197ec779735a7773e3fb613b341a8356cc6ab811708ecea96f', '54f02157b6395bc07ebfbd35224e64d2a9e0714a0c19000afcd43a10f322009e');
INSERT INTO gw_fixture_v1.audit_head VALUES (1, 5, '54f02157b6395bc07ebfbd35224e64d2a9e0714a0c19000afcd43a10f322009e');
INSERT INTO gw_fixture_v1.grants VALUES ('GR-20261127-CHD0W233KT', 'online-hall', 'administrative-approval', '{310115-PSB-RK01-002,310115-PSB-RK01-005}', 'psb', 'SR-20261127-PK9NHM8MKR', 'li.ming@psb', '2026-11-27 10:30:00.123456+00', '2027-11-27 09:30:00.123456+00', NULL, '');
INSERT INTO gw_fixture_v1.schema_migrations VALUES (1, 'requests, grants and the audit chain', '2026-12-04 16:59:04.473164+00');
INSERT INTO gw_fixture_v1.sharing_requests VALUES ('SR-20261127-MX56CQZC73', 'online-hall', 'zhang.wei@online-hall', 'hrss', '{310115-HRSS-SB01-001}', 'administrative-approval', 'insurance', 'PENDING', '2026-11-27 09:31:00.123456+00', '2026-12-02 10:30:00.123456+00', NULL, '', '', NULL, '');
INSERT INTO gw_fixture_v1.sharing_requests VALUES ('SR-20261127-PK9NHM8MKR', 'online-hall', 'zhang.wei@online-hall', 'psb', '{310115-PSB-RK01-002,310115-PSB-RK01-005}', 'administrative-approval', 'licences', 'APPROVED', '2026-11-27 09:30:00.123456+00', '2026-12-02 09:30:00.123456+00', '2026-11-27 10:30:00.123456+00', 'li.ming@psb', 'ok', '2027-11-27 09:30:00.123456+00', 'GR-20261127-CHD0W233KT');
ALTER TABLE ONLY gw_fixture_v1.audit_events
    ADD CONSTRAINT audit_events_pkey PRIMARY KEY (seq);
ALTER TABLE ONLY gw_fixture_v1.audit_head
    ADD CONSTRAINT audit_head_pkey PRIMARY KEY (id);
ALTER TABLE ONLY gw_fixture_v1.grants
    ADD CONSTRAINT grants_pkey PRIMARY KEY (id);
ALTER TABLE ONLY gw_fixture_v1.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);
ALTER TABLE ONLY gw_fixture_v1.sharing_requests
    ADD CONSTRAINT sharing_requests_pkey PRIMARY KEY (id);
CREATE INDEX audit_events_owner ON gw_fixture_v1.audit_events USING btree (owner, seq);
CREATE INDEX audit_events_owner_code ON gw_fixture_v1.audit_events USING btree (owner, code, seq);
CREATE INDEX audit_events_owner_subject ON gw_fixture_v1.audit_events USING btree (owner, subject, seq);
CREATE INDEX sharing_requests_department ON gw_fixture_v1.sharing_requests USING btree (department, created_at);
CREATE INDEX sharing_requests_requester ON gw_fixture_v1.sharing_requests USING btree (requester, created_at);
ALTER TABLE ONLY gw_fixture_v1.grants
    ADD CONSTRAINT grants_request_id_fkey FOREIGN KEY (request_id) REFERENCES gw_fixture_v1.sharing_requests(id);
