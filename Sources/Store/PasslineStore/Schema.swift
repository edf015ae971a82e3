import PasslineSQL

/// The schema, the same on SQLite and PostgreSQL. Every table that holds a tenant's data
/// carries `tenant_id`, and every key that a tenant's request can name starts with it.
/// Times are milliseconds since 1970 (UTC); points and money are integers; flags are 0/1.
public enum Schema {
    public static let migrations: [Migration] = [
        Migration(version: 1, name: "initial schema") { dialect in
            let blob = dialect.blobType
            let serial = dialect.serialPrimaryKey
            return """
            CREATE TABLE tenants (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                push_paused_reason TEXT,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL
            );
            -- One row a tenant, locked by every change until it commits: tags follow commit order.
            CREATE TABLE update_tags (
                tenant_id TEXT PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
                last_tag BIGINT NOT NULL DEFAULT 0
            );
            CREATE TABLE signing_identities (
                tenant_id TEXT PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
                pass_type_identifier TEXT NOT NULL,
                team_identifier TEXT NOT NULL,
                certificate_pem \(blob) NOT NULL,
                intermediate_pem \(blob) NOT NULL,
                private_key_encrypted \(blob) NOT NULL,
                not_after BIGINT NOT NULL,
                updated_at BIGINT NOT NULL
            );
            CREATE TABLE google_issuers (
                tenant_id TEXT PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
                issuer_id TEXT NOT NULL,
                service_account_email TEXT NOT NULL,
                service_account_key_encrypted \(blob) NOT NULL,
                updated_at BIGINT NOT NULL
            );
            CREATE TABLE api_keys (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                prefix TEXT NOT NULL,
                key_hash \(blob) NOT NULL UNIQUE,
                mode TEXT NOT NULL CHECK (mode IN ('live', 'test')),
                created_at BIGINT NOT NULL,
                revoked_at BIGINT
            );
            CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id);
            CREATE TABLE templates (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                name TEXT NOT NULL,
                pass_json \(blob) NOT NULL,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL,
                UNIQUE (tenant_id, name)
            );
            CREATE TABLE template_assets (
                template_id TEXT NOT NULL REFERENCES templates (id) ON DELETE CASCADE,
                path TEXT NOT NULL,
                content \(blob) NOT NULL,
                PRIMARY KEY (template_id, path)
            );
            CREATE TABLE cards (
                tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                serial_number TEXT NOT NULL,
                template_id TEXT NOT NULL REFERENCES templates (id),
                mode TEXT NOT NULL CHECK (mode IN ('live', 'test')),
                member_id TEXT NOT NULL,
                member_name TEXT NOT NULL,
                authentication_token TEXT NOT NULL,
                public_token TEXT NOT NULL UNIQUE,
                fields TEXT NOT NULL,
                points BIGINT NOT NULL,
                version BIGINT NOT NULL,
                update_tag BIGINT NOT NULL,
                voided INTEGER NOT NULL DEFAULT 0,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL,
                PRIMARY KEY (tenant_id, serial_number)
            );
            CREATE INDEX cards_by_template ON cards (tenant_id, template_id);
            CREATE TABLE ledger_entries (
                id \(serial),
                tenant_id TEXT NOT NULL,
                serial_number TEXT NOT NULL,
                points BIGINT NOT NULL,
                balance_after BIGINT NOT NULL,
                reason TEXT NOT NULL,
                amount BIGINT,
                idempotency_key TEXT,
                actor TEXT,
                created_at BIGINT NOT NULL,
                FOREIGN KEY (tenant_id, serial_number) REFERENCES cards (tenant_id, serial_number) ON DELETE CASCADE
            );
            CREATE INDEX ledger_by_card ON ledger_entries (tenant_id, serial_number, id);
            CREATE TABLE devices (
                tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                device_library_id TEXT NOT NULL,
                push_token TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL,
                PRIMARY KEY (tenant_id, device_library_id)
            );
            -- The primary key serves "serials of this device and pass type"; the second index
            -- serves the fan-out "devices holding this card".
            CREATE TABLE registrations (
                tenant_id TEXT NOT NULL,
                device_library_id TEXT NOT NULL,
                pass_type_identifier TEXT NOT NULL,
                serial_number TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                PRIMARY KEY (tenant_id, device_library_id, pass_type_identifier, serial_number),
                FOREIGN KEY (tenant_id, device_library_id) REFERENCES devices (tenant_id, device_library_id) ON DELETE CASCADE,
                FOREIGN KEY (tenant_id, serial_number) REFERENCES cards (tenant_id, serial_number) ON DELETE CASCADE
            );
            CREATE INDEX registrations_by_card ON registrations (tenant_id, serial_number);
            CREATE TABLE idempotency_records (
                tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                key TEXT NOT NULL,
                request_hash \(blob) NOT NULL,
                response_status INTEGER NOT NULL,
                response_body \(blob) NOT NULL,
                created_at BIGINT NOT NULL,
                PRIMARY KEY (tenant_id, key)
            );
            CREATE TABLE webhook_endpoints (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                url TEXT NOT NULL,
                secret_encrypted \(blob) NOT NULL,
                created_at BIGINT NOT NULL,
                disabled_at BIGINT
            );
            CREATE TABLE webhook_deliveries (
                id \(serial),
                tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
                event TEXT NOT NULL,
                payload TEXT NOT NULL,
                state TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                last_error TEXT,
                created_at BIGINT NOT NULL,
                delivered_at BIGINT
            );
            CREATE TABLE device_logs (
                id \(serial),
                tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                message TEXT NOT NULL,
                created_at BIGINT NOT NULL
            );
            CREATE INDEX device_logs_by_tenant ON device_logs (tenant_id, id);
            CREATE TABLE jobs (
                id \(serial),
                tenant_id TEXT REFERENCES tenants (id) ON DELETE CASCADE,
                kind TEXT NOT NULL,
                payload TEXT NOT NULL,
                priority INTEGER NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('ready', 'running', 'done', 'dead')),
                run_at BIGINT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                max_attempts INTEGER NOT NULL,
                lease_until BIGINT,
                locked_by TEXT,
                last_error TEXT,
                coalesce_key TEXT,
                created_at BIGINT NOT NULL,
                finished_at BIGINT
            );
            -- Claiming reads only live jobs, most urgent first.
            CREATE INDEX jobs_to_claim ON jobs (priority, run_at, id) WHERE state IN ('ready', 'running');
            -- At most one waiting job per coalescing key: a newer change replaces its payload.
            CREATE UNIQUE INDEX jobs_coalesce ON jobs (coalesce_key) WHERE state = 'ready';
            """
        },
        Migration(version: 2, name: "push deliveries") { dialect in
            let serial = dialect.serialPrimaryKey
            return """
                -- One row an APNs answer (or a failure to get one): what delivery tracking and
                -- /metrics report. Pushes go per device token, so rows are per token and topic.
                CREATE TABLE push_deliveries (
                    id \(serial),
                    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                    push_token TEXT NOT NULL,
                    pass_type TEXT NOT NULL,
                    outcome TEXT NOT NULL,
                    apns_id TEXT,
                    reason TEXT,
                    attempt INTEGER NOT NULL,
                    created_at BIGINT NOT NULL
                );
                CREATE INDEX push_deliveries_by_tenant ON push_deliveries (tenant_id, created_at);
                """
        },
        Migration(version: 3, name: "campaigns and delivery tracking") { _ in
            """
            CREATE TABLE campaigns (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                template_id TEXT NOT NULL REFERENCES templates (id),
                mode TEXT NOT NULL CHECK (mode IN ('live', 'test')),
                kind TEXT NOT NULL CHECK (kind IN ('reissue', 'fields', 'message')),
                change TEXT NOT NULL,
                total BIGINT NOT NULL,
                done BIGINT NOT NULL,
                failed BIGINT NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('running', 'finished')),
                created_at BIGINT NOT NULL,
                finished_at BIGINT
            );
            CREATE INDEX campaigns_by_tenant ON campaigns (tenant_id, created_at);
            -- The cards a campaign covers, fixed when it starts; each step takes pending ones.
            CREATE TABLE campaign_cards (
                campaign_id TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
                tenant_id TEXT NOT NULL,
                serial_number TEXT NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
                version BIGINT,
                reason TEXT,
                PRIMARY KEY (campaign_id, serial_number)
            );
            CREATE INDEX campaign_cards_pending ON campaign_cards (campaign_id, serial_number) WHERE state = 'pending';
            ALTER TABLE push_deliveries ADD COLUMN campaign_id TEXT;
            CREATE INDEX push_deliveries_by_campaign ON push_deliveries (campaign_id) WHERE campaign_id IS NOT NULL;
            -- A card's deliveries are found through its devices' tokens.
            CREATE INDEX push_deliveries_by_token ON push_deliveries (tenant_id, push_token, created_at);
            -- The newest version a device fetched through the web service: "delivered" versus "opened".
            ALTER TABLE cards ADD COLUMN fetched_version BIGINT;
            ALTER TABLE cards ADD COLUMN fetched_at BIGINT;
            """
        },
        Migration(version: 4, name: "Google Wallet sync") { _ in
            """
            -- The whole service-account key file is sealed in service_account_key_encrypted.
            ALTER TABLE google_issuers ADD COLUMN key_id TEXT;
            ALTER TABLE google_issuers ADD COLUMN logo_url TEXT;
            ALTER TABLE google_issuers ADD COLUMN origins TEXT NOT NULL DEFAULT '';
            -- Set when Google answers 403 (the account is not a user of the issuer): sync waits.
            ALTER TABLE google_issuers ADD COLUMN paused_reason TEXT;
            CREATE TABLE google_classes (
                tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                template_id TEXT NOT NULL,
                class_id TEXT NOT NULL,
                content_hash TEXT NOT NULL,
                synced_at BIGINT NOT NULL,
                PRIMARY KEY (tenant_id, template_id)
            );
            CREATE TABLE google_objects (
                tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                serial_number TEXT NOT NULL,
                object_id TEXT NOT NULL,
                synced_version BIGINT NOT NULL,
                synced_points BIGINT NOT NULL,
                synced_tier TEXT NOT NULL,
                synced_message TEXT NOT NULL,
                notified_at TEXT NOT NULL,
                synced_at BIGINT NOT NULL,
                PRIMARY KEY (tenant_id, serial_number)
            );
            """
        },
        Migration(version: 5, name: "devices by push token, jobs vacuumed early") { dialect in
            """
            -- APNs answers name a push token, not a device: removing the registrations behind a
            -- 410 or BadDeviceToken read every device of the tenant without this (250 ms at
            -- 143,000 devices, on the worker's connection).
            CREATE INDEX devices_by_push_token ON devices (tenant_id, push_token);
            """ + (dialect == .postgres ? """

            -- Every job is inserted, claimed and settled: three row versions, and dead entries
            -- in the claim index that each claim steps over until vacuum removes them. At the
            -- default thresholds (a fifth of the table) a busy queue went a minute or more
            -- between vacuums, and claims grew from 1 ms to 60 ms (bench-web, transactions
            -- pushing to the APNs stand-in). Vacuum and analyse after every 2,000 changed rows.
            ALTER TABLE jobs SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000,
                                  autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 2000,
                                  autovacuum_vacuum_cost_delay = 0);
            """ : "")
        },
        Migration(version: 6, name: "finished jobs purged") { _ in
            """
            -- Every push leaves a finished job behind; without a purge the table only grows (a
            -- 100,000-card campaign leaves 130,000 rows). The purge reads the oldest first.
            CREATE INDEX jobs_finished ON jobs (finished_at) WHERE state IN ('done', 'dead');
            """
        },
        Migration(version: 7, name: "push outcomes counted as they are written") { _ in
            """
            -- /metrics and a tenant's or a campaign's delivery figures used to count every
            -- delivery row: at a million rows (ten 100,000-card campaigns) 0.4 to 0.7 s, on
            -- SQLite's one connection, with every push and request waiting behind it. The rows
            -- stay for each card's history; the figures come from these counts, kept in the
            -- transaction that writes the rows. campaign_id is '' for pushes of single changes.
            CREATE TABLE push_outcome_counts (
                tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                campaign_id TEXT NOT NULL,
                outcome TEXT NOT NULL,
                n BIGINT NOT NULL,
                PRIMARY KEY (tenant_id, campaign_id, outcome)
            );
            CREATE INDEX push_outcome_counts_by_campaign ON push_outcome_counts (campaign_id);
            INSERT INTO push_outcome_counts (tenant_id, campaign_id, outcome, n)
                SELECT tenant_id, COALESCE(campaign_id, ''), outcome, COUNT(*) FROM push_deliveries
                GROUP BY tenant_id, COALESCE(campaign_id, ''), outcome;
            -- They served only the counts. push_deliveries_by_token starts with tenant_id too, for
            -- a tenant's removal. Two indexes fewer to write for every push.
            DROP INDEX push_deliveries_by_tenant;
            DROP INDEX push_deliveries_by_campaign;
            """
        },
        Migration(version: 8, name: "master key check, retention of answers, deliveries and campaign cards") { dialect in
            """
            -- A value sealed with the master key, written the first time a key is used with this
            -- store: a process started with another key finds it cannot open it, and refuses to
            -- start instead of sealing new secrets with a key that opens none of the old ones.
            -- fingerprint is the first 8 bytes of the key's SHA-256, hex: enough to say which key
            -- was expected, nothing to recover it from.
            CREATE TABLE master_key_check (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                fingerprint TEXT NOT NULL,
                sealed \(dialect.blobType) NOT NULL,
                created_at BIGINT NOT NULL
            );
            -- Retention reads the oldest first: idempotency answers live 24 hours, delivery rows
            -- and the cards of finished campaigns 30 days. A campaign keeps its fetched count
            -- once its cards are gone (the other figures are its own columns).
            CREATE INDEX idempotency_records_by_age ON idempotency_records (created_at);
            CREATE INDEX push_deliveries_by_age ON push_deliveries (created_at);
            CREATE INDEX campaigns_finished ON campaigns (finished_at) WHERE state = 'finished';
            ALTER TABLE campaigns ADD COLUMN fetched_final BIGINT;
            ALTER TABLE campaigns ADD COLUMN cards_purged_at BIGINT;
            -- /metrics counted every card at each scrape (GROUP BY mode over the whole table); now
            -- cards are counted as they are issued, in the same transaction.
            CREATE TABLE card_counts (
                tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                mode TEXT NOT NULL,
                n BIGINT NOT NULL,
                PRIMARY KEY (tenant_id, mode)
            );
            INSERT INTO card_counts (tenant_id, mode, n) SELECT tenant_id, mode, COUNT(*) FROM cards GROUP BY tenant_id, mode;
            """
        },
        Migration(version: 9, name: "jobs counted by state as they change, templates of one mode") { dialect in
            """
            -- /metrics counted the job table by state at each scrape: a day of done jobs is
            -- hundreds of thousands of rows. The counts are kept by triggers, so that no code
            -- path that moves a job (claim, complete, fail, release, purge, a tenant's removal)
            -- can forget them. Every state has its row from the start: updates only.
            CREATE TABLE job_counts (
                state TEXT PRIMARY KEY,
                n BIGINT NOT NULL
            );
            INSERT INTO job_counts (state, n) VALUES ('ready', 0), ('running', 0), ('done', 0), ('dead', 0);
            UPDATE job_counts SET n = (SELECT COUNT(*) FROM jobs WHERE jobs.state = job_counts.state);
            \(dialect == .postgres ? Schema.jobCountTriggersPostgres : Schema.jobCountTriggersSQLite)
            -- A template uploaded with a test key is the test mode's own: live keys never see it,
            -- and a test key never sees a live one. NULL: a template both modes use (made by the
            -- operator, or uploaded before modes were kept).
            ALTER TABLE templates ADD COLUMN mode TEXT CHECK (mode IN ('live', 'test'));
            """
        },
        Migration(version: 10, name: "loyalty programs, purchases, point lots, typed ledger entries") { dialect in
            let serial = dialect.serialPrimaryKey
            return """
            -- Every change to a tenant's program is a new version, effective from its time; an
            -- entry names the version that produced it. Test keys have a program of their own.
            CREATE TABLE program_versions (
                tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                mode TEXT NOT NULL CHECK (mode IN ('live', 'test')),
                version BIGINT NOT NULL,
                rules TEXT NOT NULL,
                effective_at BIGINT NOT NULL,
                actor TEXT,
                created_at BIGINT NOT NULL,
                PRIMARY KEY (tenant_id, mode, version)
            );
            -- A purchase is known by the partner's reference, once per tenant and mode: posting
            -- it again replays its answer instead of crediting twice.
            CREATE TABLE purchases (
                tenant_id TEXT NOT NULL,
                mode TEXT NOT NULL CHECK (mode IN ('live', 'test')),
                reference TEXT NOT NULL,
                serial_number TEXT NOT NULL,
                amount BIGINT NOT NULL,
                currency TEXT NOT NULL,
                payment_method TEXT NOT NULL,
                occurred_at BIGINT NOT NULL,
                points_earned BIGINT NOT NULL,
                program_version BIGINT,
                amount_refunded BIGINT NOT NULL DEFAULT 0,
                points_reversed BIGINT NOT NULL DEFAULT 0,
                request_hash \(dialect.blobType) NOT NULL,
                answer \(dialect.blobType) NOT NULL,
                created_at BIGINT NOT NULL,
                PRIMARY KEY (tenant_id, mode, reference),
                FOREIGN KEY (tenant_id, serial_number) REFERENCES cards (tenant_id, serial_number) ON DELETE CASCADE
            );
            -- Points earned together: the balance is the sum of what is left of a card's lots.
            -- A lot changes only while its card's row is locked (every balance change locks it).
            CREATE TABLE point_lots (
                id \(serial),
                tenant_id TEXT NOT NULL,
                serial_number TEXT NOT NULL,
                entry_id BIGINT,
                purchase_reference TEXT,
                points BIGINT NOT NULL,
                remaining BIGINT NOT NULL CHECK (remaining >= 0),
                earned_at BIGINT NOT NULL,
                expires_at BIGINT,
                FOREIGN KEY (tenant_id, serial_number) REFERENCES cards (tenant_id, serial_number) ON DELETE CASCADE
            );
            CREATE INDEX point_lots_open ON point_lots (tenant_id, serial_number) WHERE remaining > 0;
            CREATE INDEX point_lots_due ON point_lots (expires_at) WHERE remaining > 0 AND expires_at IS NOT NULL;
            ALTER TABLE ledger_entries ADD COLUMN type TEXT NOT NULL DEFAULT 'adjust'
                CHECK (type IN ('earn', 'redeem', 'adjust', 'expire', 'refund'));
            ALTER TABLE ledger_entries ADD COLUMN program_version BIGINT;
            ALTER TABLE ledger_entries ADD COLUMN purchase_reference TEXT;
            UPDATE ledger_entries SET type = CASE WHEN points > 0 THEN 'earn' ELSE 'redeem' END;
            ALTER TABLE cards ADD COLUMN last_purchase_at BIGINT;
            -- The balances from before lots: one lot each, that never expires.
            INSERT INTO point_lots (tenant_id, serial_number, points, remaining, earned_at)
                SELECT tenant_id, serial_number, points, points, updated_at FROM cards WHERE points > 0;
            """
        },
        Migration(version: 11, name: "rewards") { _ in
            """
            -- A tenant's catalogue per mode. The rules are the reward's JSON (`Reward.json`), so a
            -- new rule is a new key, not a migration; name is kept apart for its uniqueness.
            CREATE TABLE rewards (
                tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                mode TEXT NOT NULL CHECK (mode IN ('live', 'test')),
                id TEXT NOT NULL,
                name TEXT NOT NULL,
                rules TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                PRIMARY KEY (tenant_id, id),
                UNIQUE (tenant_id, mode, name)
            );
            -- Which reward a redemption took, for the limit per member and period.
            ALTER TABLE ledger_entries ADD COLUMN reward_id TEXT;
            CREATE INDEX ledger_by_reward ON ledger_entries (tenant_id, serial_number, reward_id, created_at) WHERE reward_id IS NOT NULL;
            """
        },
        Migration(version: 12, name: "expiry reminders") { _ in
            """
            -- Each open lot's next reminder (its milestone, days before the expiry, and when it is
            -- sent): the scheduler reads the due ones by index, and a sent reminder moves the lot
            -- to its next milestone in the same commit, so none is sent twice.
            ALTER TABLE point_lots ADD COLUMN reminder_days BIGINT;
            ALTER TABLE point_lots ADD COLUMN reminder_at BIGINT;
            CREATE INDEX point_lots_reminders ON point_lots (reminder_at) WHERE remaining > 0 AND reminder_at IS NOT NULL;
            CREATE TABLE lot_reminders (
                tenant_id TEXT NOT NULL,
                serial_number TEXT NOT NULL,
                lot_id BIGINT NOT NULL,
                days_before BIGINT NOT NULL,
                expires_at BIGINT NOT NULL,
                points BIGINT NOT NULL,
                sent_at BIGINT NOT NULL,
                PRIMARY KEY (lot_id, days_before),
                FOREIGN KEY (tenant_id, serial_number) REFERENCES cards (tenant_id, serial_number) ON DELETE CASCADE
            );
            CREATE INDEX lot_reminders_by_card ON lot_reminders (tenant_id, serial_number);
            """
        },
        Migration(version: 13, name: "test clocks") { _ in
            """
            -- A test-mode clock, as Stripe's: cards on it live at its frozen time, and advancing it
            -- makes everything due in between happen, in order. The target is kept so that an
            -- advance cut short by a restart goes on.
            CREATE TABLE test_clocks (
                tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                id TEXT NOT NULL,
                frozen_time BIGINT NOT NULL,
                target_time BIGINT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('ready', 'advancing')),
                created_at BIGINT NOT NULL,
                PRIMARY KEY (tenant_id, id)
            );
            CREATE INDEX test_clocks_advancing ON test_clocks (status) WHERE status = 'advancing';
            ALTER TABLE cards ADD COLUMN test_clock TEXT;
            """
        },
        Migration(version: 14, name: "the expiry words last sent to Google") { _ in
            """
            -- A reminder reaches Android through a message of its own; this tells a new one from one sent.
            ALTER TABLE google_objects ADD COLUMN synced_notice TEXT NOT NULL DEFAULT '';
            """
        },
        Migration(version: 15, name: "programs per template") { _ in
            """
            -- A template may have a program of its own, versioned like the tenant's, in the same
            -- numbering (an entry's version names one program). '' is the tenant's own; a
            -- template version whose rules are 'inherit' hands its cards back to the tenant's.
            ALTER TABLE program_versions ADD COLUMN template_id TEXT NOT NULL DEFAULT '';
            CREATE INDEX program_versions_by_template ON program_versions (tenant_id, mode, template_id, effective_at);
            """
        },
        Migration(version: 16, name: "webhooks: endpoints per mode, an event outbox, the delivery log") { dialect in
            let blob = dialect.blobType
            let serial = dialect.serialPrimaryKey
            return """
            -- The first schema's two webhook tables were never written; they are replaced whole.
            DROP TABLE webhook_deliveries;
            DROP TABLE webhook_endpoints;
            -- A secret is sealed with the master key; during a rotation the previous one signs too,
            -- until previous_until.
            CREATE TABLE webhook_endpoints (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                mode TEXT NOT NULL CHECK (mode IN ('live', 'test')),
                url TEXT NOT NULL,
                events TEXT NOT NULL,
                description TEXT NOT NULL DEFAULT '',
                secret_encrypted \(blob) NOT NULL,
                previous_secret_encrypted \(blob),
                previous_until BIGINT,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL,
                disabled_at BIGINT,
                disabled_reason TEXT,
                failing_since BIGINT
            );
            CREATE INDEX webhook_endpoints_by_tenant ON webhook_endpoints (tenant_id, mode);
            -- Events are written only while the tenant's mode has an endpoint, in the transaction
            -- of the change that caused them; each endpoint's delivery is a job.
            CREATE TABLE events (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                mode TEXT NOT NULL,
                type TEXT NOT NULL,
                data TEXT NOT NULL,
                created_at BIGINT NOT NULL
            );
            CREATE INDEX events_by_tenant ON events (tenant_id, mode, created_at);
            CREATE TABLE webhook_attempts (
                id \(serial),
                tenant_id TEXT NOT NULL,
                endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
                event_id TEXT NOT NULL,
                attempt INTEGER NOT NULL,
                outcome TEXT NOT NULL,
                status INTEGER,
                latency_ms BIGINT NOT NULL,
                error TEXT,
                response_excerpt TEXT NOT NULL,
                at BIGINT NOT NULL
            );
            CREATE INDEX webhook_attempts_by_endpoint ON webhook_attempts (endpoint_id, id);
            CREATE INDEX webhook_attempts_by_event ON webhook_attempts (event_id);
            """
        },
        Migration(version: 17, name: "idempotent answers keep their headers") { _ in
            """
            -- Every POST and PATCH replays its first answer: a created resource's Location too.
            ALTER TABLE idempotency_records ADD COLUMN response_headers TEXT NOT NULL DEFAULT '';
            """
        },
        Migration(version: 18, name: "rate limits shared by processes, and a tenant's own plan") { _ in
            """
            -- GCRA: a bucket is the theoretical arrival time of its next request (milliseconds).
            CREATE TABLE rate_limits (
                key TEXT PRIMARY KEY,
                tat BIGINT NOT NULL
            );
            ALTER TABLE tenants ADD COLUMN rate_per_second INTEGER;
            ALTER TABLE tenants ADD COLUMN rate_burst INTEGER;
            """
        },
        Migration(version: 19, name: "install and removal counts per template and wallet") { _ in
            """
            -- Counted with the registration (or removal) that changes them, as the events are:
            -- a card added to a device is an install, taken off one a removal. Registrations
            -- made before counting began count as installs.
            CREATE TABLE install_counts (
                tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                template_id TEXT NOT NULL,
                wallet TEXT NOT NULL,
                installs BIGINT NOT NULL DEFAULT 0,
                removals BIGINT NOT NULL DEFAULT 0,
                PRIMARY KEY (tenant_id, template_id, wallet)
            );
            INSERT INTO install_counts (tenant_id, template_id, wallet, installs, removals)
                SELECT r.tenant_id, c.template_id, 'apple', COUNT(*), 0 FROM registrations r
                JOIN cards c ON c.tenant_id = r.tenant_id AND c.serial_number = r.serial_number GROUP BY r.tenant_id, c.template_id;
            """
        },
        Migration(version: 20, name: "Google's save and deletion reports") { _ in
            """
            -- Google reports a save or a deletion by object id; the card is found by it.
            CREATE INDEX google_objects_by_object ON google_objects (object_id);
            -- Whether the card is in a Google wallet now, as the last report said.
            ALTER TABLE google_objects ADD COLUMN saved INTEGER NOT NULL DEFAULT 0;
            -- Google retries a report it could not deliver, with the same nonce: each counts once.
            CREATE TABLE google_reports (
                tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                nonce TEXT NOT NULL,
                received_at BIGINT NOT NULL,
                PRIMARY KEY (tenant_id, nonce)
            );
            CREATE INDEX google_reports_by_time ON google_reports (received_at);
            """
        },
        Migration(version: 21, name: "staff accounts, their invitations and sessions, and the audit log") { dialect in
            """
            -- A business's people who sign in to the web app. One e-mail may belong to staff of
            -- several tenants (someone who runs two businesses); within a tenant it is one person.
            CREATE TABLE staff (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                email TEXT NOT NULL,
                name TEXT NOT NULL DEFAULT '',
                role TEXT NOT NULL CHECK (role IN ('owner', 'manager', 'frontdesk')),
                -- NULL until the invitation is taken up.
                password_hash TEXT,
                failed_logins INTEGER NOT NULL DEFAULT 0,
                locked_until BIGINT NOT NULL DEFAULT 0,
                disabled_at BIGINT,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL,
                UNIQUE (tenant_id, email)
            );
            CREATE INDEX staff_by_email ON staff (email);
            -- Only a digest of each token is kept: the store's contents never sign anyone in.
            CREATE TABLE staff_invitations (
                token_hash TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                staff_id TEXT NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
                created_by TEXT,
                created_at BIGINT NOT NULL,
                expires_at BIGINT NOT NULL,
                used_at BIGINT
            );
            CREATE TABLE staff_sessions (
                id_hash TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                staff_id TEXT NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
                csrf_token TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                last_seen_at BIGINT NOT NULL,
                expires_at BIGINT NOT NULL,
                revoked_at BIGINT
            );
            CREATE INDEX staff_sessions_by_staff ON staff_sessions (staff_id);
            CREATE INDEX staff_sessions_by_expiry ON staff_sessions (expires_at);
            -- Who did what: every credit, correction, redemption, rule and staff change.
            CREATE TABLE audit_log (
                id \(dialect.serialPrimaryKey),
                tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                staff_id TEXT,
                staff_email TEXT NOT NULL,
                action TEXT NOT NULL,
                subject TEXT NOT NULL DEFAULT '',
                detail TEXT NOT NULL DEFAULT '',
                at BIGINT NOT NULL
            );
            CREATE INDEX audit_by_tenant ON audit_log (tenant_id, id);
            -- The front desk finds a card by the member id its barcode carries.
            CREATE INDEX cards_by_member ON cards (tenant_id, member_id);
            """
        },
        Migration(version: 22, name: "campaigns for a segment of the cards, at a time set ahead") { _ in
            """
            -- Which cards a message goes to (LoyaltyRules.Segment as JSON; '{}' every card).
            ALTER TABLE campaigns ADD COLUMN segment TEXT NOT NULL DEFAULT '{}';
            -- When it starts; its cards are chosen then, so the segment is the one of that moment.
            ALTER TABLE campaigns ADD COLUMN starts_at BIGINT;
            ALTER TABLE campaigns ADD COLUMN cards_chosen INTEGER NOT NULL DEFAULT 1;
            """
        },
        Migration(version: 23, name: "installs and removals per week, and the ledger by time") { _ in
            """
            -- The reports draw installs and removals per week: counted with the running totals.
            -- Registrations made before this count in the week they were made.
            CREATE TABLE install_weeks (
                tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                week_start BIGINT NOT NULL,
                wallet TEXT NOT NULL,
                installs BIGINT NOT NULL DEFAULT 0,
                removals BIGINT NOT NULL DEFAULT 0,
                PRIMARY KEY (tenant_id, week_start, wallet)
            );
            INSERT INTO install_weeks (tenant_id, week_start, wallet, installs, removals)
                SELECT tenant_id, ((created_at - 345600000) / 604800000) * 604800000 + 345600000, 'apple', COUNT(*), 0 FROM registrations
                GROUP BY tenant_id, ((created_at - 345600000) / 604800000) * 604800000 + 345600000;
            -- The reports read a tenant's ledger by time.
            CREATE INDEX ledger_by_time ON ledger_entries (tenant_id, created_at);
            """
        },
        Migration(version: 24, name: "member imports from CSV") { _ in
            """
            -- A business's existing members, uploaded as CSV: checked first (a dry run), then
            -- issued as cards by a job, which records each card it made.
            CREATE TABLE member_imports (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                mode TEXT NOT NULL,
                template_id TEXT NOT NULL,
                staff_email TEXT NOT NULL,
                csv TEXT NOT NULL,
                total BIGINT NOT NULL,
                faults BIGINT NOT NULL,
                done BIGINT NOT NULL DEFAULT 0,
                failed BIGINT NOT NULL DEFAULT 0,
                state TEXT NOT NULL CHECK (state IN ('checked', 'running', 'finished')),
                error TEXT,
                created_at BIGINT NOT NULL,
                finished_at BIGINT
            );
            CREATE INDEX member_imports_by_tenant ON member_imports (tenant_id, created_at);
            CREATE TABLE member_import_cards (
                import_id TEXT NOT NULL REFERENCES member_imports (id) ON DELETE CASCADE,
                line BIGINT NOT NULL,
                serial_number TEXT,
                error TEXT,
                PRIMARY KEY (import_id, line)
            );
            """
        },
        Migration(version: 25, name: "a card's registrations found by a covering index") { _ in
            """
            -- A change finds its card's devices by (tenant, serial). The primary key covers that
            -- query too, on its tenant prefix, and SQLite without statistics preferred it: every
            -- change of a tenant with 100,000 devices read all of their registrations (30 ms at
            -- the front desk, BENCHMARKS.md). An index covering the query keyed on the card wins.
            DROP INDEX registrations_by_card;
            CREATE INDEX registrations_by_card ON registrations (tenant_id, serial_number, device_library_id, pass_type_identifier);
            """
        },
        Migration(version: 26, name: "a business's branding and default template") { dialect in
            let blob = dialect.blobType
            return """
            -- What the business's staff chose in the app: its colours and logo (the app's header,
            -- the card page) and the template its new members get. No row: the defaults.
            CREATE TABLE tenant_branding (
                tenant_id TEXT PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
                background TEXT,
                text_color TEXT,
                logo \(blob),
                default_template TEXT,
                updated_at BIGINT NOT NULL
            );
            """
        },
        Migration(version: 27, name: "a card's wallet options: expiry, relevant dates, places") { _ in
            """
            -- Per card, as JSON (WalletOptions): when it expires, when and where it is relevant.
            -- NULL: the template's.
            ALTER TABLE cards ADD COLUMN wallet TEXT;
            """
        },
        Migration(version: 28, name: "a card's sign-up through Wallet's form") { _ in
            """
            -- When the member signed up through Wallet's form (Apple's rewards enrollment): from
            -- then on the card's pass leaves the form out.
            ALTER TABLE cards ADD COLUMN personalized_at BIGINT;
            """
        },
        Migration(version: 29, name: "a tenant suspended by the operator") { _ in
            """
            -- A suspended business: its API keys are refused (403 naming the reason), its staff
            -- cannot sign in, its pushes wait; the passes already issued are still served.
            ALTER TABLE tenants ADD COLUMN suspended_reason TEXT;
            ALTER TABLE tenants ADD COLUMN suspended_at BIGINT;
            """
        },
    ]

    /// SQLite has one writer: a row trigger updates the counts in place.
    static let jobCountTriggersSQLite = """
        CREATE TRIGGER jobs_counted_insert AFTER INSERT ON jobs BEGIN
            UPDATE job_counts SET n = n + 1 WHERE state = NEW.state;
        END;
        CREATE TRIGGER jobs_counted_update AFTER UPDATE OF state ON jobs WHEN OLD.state <> NEW.state BEGIN
            UPDATE job_counts SET n = n - 1 WHERE state = OLD.state;
            UPDATE job_counts SET n = n + 1 WHERE state = NEW.state;
        END;
        CREATE TRIGGER jobs_counted_delete AFTER DELETE ON jobs BEGIN
            UPDATE job_counts SET n = n - 1 WHERE state = OLD.state;
        END;
        """

    /// On PostgreSQL every claimer and enqueuer would queue on the four count rows' locks until
    /// commit. Instead each statement appends its net change per state to job_count_deltas (an
    /// insert takes no lock another writer waits for), and `JobCounts.fold` moves the deltas
    /// into job_counts from time to time; the counts are job_counts plus the deltas not yet folded.
    static let jobCountTriggersPostgres = """
        CREATE TABLE job_count_deltas (state TEXT NOT NULL, delta BIGINT NOT NULL);
        CREATE FUNCTION jobs_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO job_count_deltas (state, delta) SELECT state, COUNT(*) FROM inserted GROUP BY state;
            RETURN NULL;
        END $$;
        CREATE FUNCTION jobs_count_updated() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO job_count_deltas (state, delta)
                SELECT state, SUM(d) FROM (SELECT state, 1 AS d FROM after_rows UNION ALL SELECT state, -1 AS d FROM before_rows) AS c
                GROUP BY state HAVING SUM(d) <> 0;
            RETURN NULL;
        END $$;
        CREATE FUNCTION jobs_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO job_count_deltas (state, delta) SELECT state, -COUNT(*) FROM deleted GROUP BY state;
            RETURN NULL;
        END $$;
        CREATE TRIGGER jobs_counted_insert AFTER INSERT ON jobs REFERENCING NEW TABLE AS inserted
            FOR EACH STATEMENT EXECUTE FUNCTION jobs_count_inserted();
        CREATE TRIGGER jobs_counted_update AFTER UPDATE ON jobs REFERENCING OLD TABLE AS before_rows NEW TABLE AS after_rows
            FOR EACH STATEMENT EXECUTE FUNCTION jobs_count_updated();
        CREATE TRIGGER jobs_counted_delete AFTER DELETE ON jobs REFERENCING OLD TABLE AS deleted
            FOR EACH STATEMENT EXECUTE FUNCTION jobs_count_deleted();
        """
}
