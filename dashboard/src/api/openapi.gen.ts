// Generated from docs/openapi.json by `npm run gen:api` (openapi-typescript,
// pinned in package-lock.json) before every build, type check and test; not
// committed. Change the Rust types and run `cargo xtask openapi`. Friendly
// names: ./types.ts.

export interface paths {
    "/api/v1/activity": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Heartbeats and app failures of the last ten minutes, per 10 s
         * @description Role: viewer.
         */
        get: operations["get_activity"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/applications": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List applications
         * @description Role: viewer.
         */
        get: operations["list_applications"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/applications/{name}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * One application
         * @description Role: viewer.
         */
        get: operations["get_application"];
        /**
         * Deploy (create or update) an application
         * @description Role: operator.
         */
        put: operations["deploy_application"];
        post?: never;
        /**
         * Remove an application from every device
         * @description Role: operator.
         */
        delete: operations["delete_application"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/applications/{name}/history": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Kept revisions
         * @description Role: viewer.
         */
        get: operations["history"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/applications/{name}/rollback": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Go back to a kept revision
         * @description Role: operator.
         */
        post: operations["rollback"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/applications/{name}/{control}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Pause, resume or abort the rollout (an abort sends touched devices back)
         * @description Role: operator.
         */
        post: operations["control"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/audit": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Audit entries, newest first
         * @description Role: operator.
         */
        get: operations["audit"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/auth/whoami": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The caller's token
         * @description Role: viewer.
         */
        get: operations["whoami"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/boards": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Boards the platform knows
         * @description Role: viewer.
         */
        get: operations["boards"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/devices": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List devices
         * @description Role: viewer.
         */
        get: operations["list_devices"];
        put?: never;
        /**
         * Create a device and issue its identity
         * @description Role: operator.
         */
        post: operations["create_device"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/devices/{name}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * One device
         * @description Role: viewer.
         */
        get: operations["get_device"];
        put?: never;
        post?: never;
        /**
         * Delete a device and its identity
         * @description Role: operator.
         */
        delete: operations["delete_device"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/devices/{name}/bundle": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The identity bundle (binary, holds the private key)
         * @description Role: operator.
         */
        get: operations["device_bundle"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/devices/{name}/connect": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Start a disconnected QEMU device
         * @description Role: operator.
         */
        post: operations["connect"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/devices/{name}/console": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Serial console from a byte offset
         * @description Role: viewer.
         */
        get: operations["device_console"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/devices/{name}/disconnect": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Stop a QEMU device's process
         * @description Role: operator.
         */
        post: operations["disconnect"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/devices/{name}/logs": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Recent app log lines
         * @description Role: viewer.
         */
        get: operations["device_logs"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/devices/{name}/terminal": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Run an allowed command on the device
         * @description Role: operator.
         */
        post: operations["terminal"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/events": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Live event stream (server-sent events): snapshot, then changes
         * @description Role: viewer.
         */
        get: operations["events"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/gateways": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Gateways with sessions and health
         * @description Role: viewer.
         */
        get: operations["list_gateways"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/modules": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Upload a .wasm module (at most 128 KiB)
         * @description Role: operator. A module that no application and no kept revision uses is deleted after an hour.
         */
        post: operations["upload_module"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/status": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Platform summary
         * @description Role: viewer.
         */
        get: operations["status"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/tokens": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Tokens, without secrets
         * @description Role: admin.
         */
        get: operations["list"];
        put?: never;
        /**
         * Create a token (its secret is shown once)
         * @description Role: admin.
         */
        post: operations["create"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/tokens/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        /**
         * Revoke a token
         * @description Role: admin.
         */
        delete: operations["revoke"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/metrics": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Prometheus metrics (text)
         * @description Role: viewer.
         */
        get: operations["serve"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        /** @description Recent activity, oldest bucket first; buckets with nothing are left out. */
        Activity: {
            /**
             * Format: int64
             * @description Width of a bucket.
             */
            bucketMs: number;
            /** @description The buckets of the last ten minutes that saw something. */
            buckets: components["schemas"]["ActivityBucket"][];
        };
        /** @description Counts in one bucket. */
        ActivityBucket: {
            /**
             * Format: int32
             * @description Apps that turned failed or rejected.
             */
            failures: number;
            /**
             * Format: int32
             * @description Heartbeats received.
             */
            heartbeats: number;
            /**
             * Format: int64
             * @description Start of the bucket, Unix milliseconds (a multiple of `bucketMs`).
             */
            startMs: number;
        };
        /** @description One app slot as observed on a device. */
        AppObservation: {
            /** @description Hex SHA-256 of the module. */
            digest: string;
            /** @description Slot name. */
            name: string;
            /** @description Why it failed or was rejected. */
            reason?: string | null;
            /**
             * Format: int64
             * @description Application revision the slot holds, when the device reports one.
             */
            revision?: number | null;
            /** @description Where the app is. */
            state: components["schemas"]["AppState"];
            /** @description Version running (or last tried). */
            version: string;
        };
        /**
         * @description Lifecycle state of an app on a device. The same type carries it end to
         *     end: in heartbeats, in the platform's records and in the API's JSON
         *     (lower-case names, with the `serde` feature).
         * @enum {string}
         */
        AppState: "installing" | "running" | "stopped" | "failed" | "rejected";
        /**
         * @description The part of an application spec that makes a revision: what runs on a
         *     device. Selector, strategy and the rollout controls are not part of it.
         */
        AppTemplate: {
            /** @description Capabilities granted. */
            capabilities: string[];
            /** @description Module digest. */
            digest: string;
            /** @description Limits. */
            limits: components["schemas"]["Limits"];
            /**
             * Format: int32
             * @description Module size.
             */
            size: number;
            /** @description Version label. */
            version: string;
        };
        /** @description A WebAssembly app rolled out to the devices its selector matches. */
        Application: {
            /** @description Name and versioning. */
            meta: components["schemas"]["Meta"];
            /** @description Desired state. */
            spec: components["schemas"]["ApplicationSpec"];
            /** @description Rollout progress and revision history. */
            status?: components["schemas"]["ApplicationStatus"];
        };
        /** @description Desired state of an application. */
        ApplicationSpec: {
            /**
             * Format: int64
             * @description Abort the rollout of this revision: every device it touched goes
             *     back to the previous revision.
             */
            abortRevision?: number | null;
            /** @description Capability groups the app may use (`log`, `time`, `device`). */
            capabilities?: string[];
            /** @description The module, by content: hex SHA-256 of the bytes in the module store. */
            digest: string;
            /** @description Limits on each device. */
            limits?: components["schemas"]["Limits"];
            /** @description Hold the rollout where it is. */
            paused?: boolean;
            /** @description Label selector choosing the devices. */
            selector?: string;
            /**
             * Format: int32
             * @description Module size in bytes.
             */
            size: number;
            /** @description How a new revision reaches the devices. */
            strategy?: components["schemas"]["Strategy"];
            /** @description Version label (free text, shown to people). */
            version: string;
        };
        /** @description Observed state of an application across its devices. */
        ApplicationStatus: {
            /** @description `Progressing`, `Available`, `RolledBack`. */
            conditions?: components["schemas"]["Condition"][];
            /**
             * Format: int32
             * @description Devices the selector matches.
             */
            desired?: number;
            /**
             * Format: int32
             * @description Devices where the current revision failed or was refused.
             */
            failed?: number;
            /** @description Kept revisions, oldest first. */
            history?: components["schemas"]["Revision"][];
            /**
             * Format: int64
             * @description Spec generation this status reflects.
             */
            observedGeneration?: number;
            /**
             * Format: int32
             * @description Matched devices that are offline: waiting, not failed.
             */
            pendingOffline?: number;
            /**
             * Format: int64
             * @description Revision the spec asks for.
             */
            revision?: number | null;
            rollout?: null | components["schemas"]["RolloutStatus"];
            /**
             * Format: int32
             * @description Devices running the current revision.
             */
            running?: number;
            /**
             * Format: int64
             * @description Last revision whose rollout completed.
             */
            stableRevision?: number | null;
            /** @description Progress of each step of the current rollout. */
            steps?: components["schemas"]["StepStatus"][];
            /**
             * Format: int32
             * @description Devices assigned the current revision.
             */
            updated?: number;
        };
        /** @description One audited action. */
        AuditEntry: {
            /** @description `device.create`, `app.deploy`, `device.terminal`, ... */
            action: string;
            /** @description Token name, or `anonymous`. */
            actor: string;
            /**
             * Format: int64
             * @description When, Unix milliseconds.
             */
            atMs: number;
            /** @description More: the terminal command, the version deployed, the reason. */
            detail?: string | null;
            /**
             * @description `ok`, `refused` (bad input, or a command the device refused),
             *     `denied` (no token, or its role is too low), `failed` (server side).
             */
            outcome: string;
            /** @description The token's role, when it had a valid one. */
            role?: string | null;
            /**
             * Format: int32
             * @description HTTP status answered.
             */
            status: number;
            /** @description What it was done to (a device, an application, a token id). */
            target: string;
        };
        BTreeMap: {
            [key: string]: string;
        };
        /** @description A board the platform knows. */
        BoardInfo: {
            /** @description Devices of it run our firmware in QEMU. */
            emulated: boolean;
            /** @description Name (`sim` for the host simulator). */
            name: string;
            /** @description Why not, when they cannot. */
            reason?: string | null;
            /** @description Devices of it can be created. */
            supported: boolean;
        };
        /** @description A Kubernetes-style condition: a named fact with a reason. */
        Condition: {
            /**
             * Format: int64
             * @description When `status` last changed, Unix milliseconds.
             */
            lastTransitionMs?: number;
            /** @description A sentence for people. */
            message?: string;
            /** @description One CamelCase word for machines. */
            reason: string;
            /** @description Whether it holds. */
            status: components["schemas"]["ConditionStatus"];
            /** @description What the condition is about, e.g. `Ready`. */
            type: string;
        };
        /**
         * @description Whether a condition holds.
         * @enum {string}
         */
        ConditionStatus: "True" | "False" | "Unknown";
        /** @description A chunk of a device's console log. */
        ConsoleChunk: {
            /**
             * Format: int64
             * @description Offset to ask for next.
             */
            next: number;
            /** @description The text (invalid UTF-8 replaced). */
            text: string;
        };
        /** @description A created token: the secret is shown this once. */
        CreatedToken: components["schemas"]["TokenInfo"] & {
            /** @description The secret to send as `Authorization: Bearer ...`. */
            token: string;
        };
        /** @description A `deleted` event: a resource is gone. */
        Deleted: {
            /** @description `device`, `application` or `gateway`. */
            kind: string;
            /** @description Its name. */
            name: string;
        };
        /** @description Body of `PUT /api/v1/applications/{name}`. */
        DeployRequest: {
            /** @description Capability groups granted (default `log`, `time`). */
            capabilities?: string[] | null;
            /** @description Digest of an uploaded module. */
            digest: string;
            /** @description Limits on each device. */
            limits?: components["schemas"]["LimitsInput"];
            /** @description Label selector (empty: every device). */
            selector?: string;
            /** @description Rollout strategy (default all-at-once). */
            strategy?: components["schemas"]["Strategy"];
            /** @description Version label. */
            version: string;
        };
        /** @description A device of the fleet. */
        Device: {
            /** @description Name and versioning. */
            meta: components["schemas"]["Meta"];
            /** @description What the platform wants for the device. */
            spec: components["schemas"]["DeviceSpec"];
            /** @description What the platform observed. */
            status?: components["schemas"]["DeviceStatus"];
        };
        /**
         * @description Device lifecycle phase, derived by the device reconciler (ordered as a
         *     device moves through them).
         * @enum {string}
         */
        DevicePhase: "Provisioning" | "Connecting" | "Online" | "Unreachable" | "Failed";
        /** @description Desired state of a device. */
        DeviceSpec: {
            /** @description Board the identity was issued for (`sim` for the host simulator). */
            board: string;
            /**
             * @description Disconnected by an operator: the platform stops the device's process
             *     (QEMU devices) until it is connected again.
             */
            disconnected?: boolean;
            /**
             * @description Gateway the device is assigned to (written by the gateway
             *     assignment reconciler; its endpoint comes first in the device's
             *     identity bundle).
             */
            gateway?: string | null;
            /** @description Labels matched by application selectors. */
            labels?: components["schemas"]["BTreeMap"];
        };
        /** @description Observed state of a device. */
        DeviceStatus: {
            /** @description `Ready`, `Synced` (device reconciler). */
            conditions?: components["schemas"]["Condition"][];
            /** @description Lifecycle phase (device reconciler). */
            phase?: components["schemas"]["DevicePhase"];
            process?: null | components["schemas"]["ProcessStatus"];
            /** @description The device's session, as its gateway sees it. */
            session?: components["schemas"]["SessionStatus"];
        };
        /** @description The body of every error answer. */
        ErrorBody: {
            /** @description What went wrong, naming the field when there is one. */
            error: string;
        };
        /** @description A gateway devices connect to. */
        Gateway: {
            /** @description Name and versioning. */
            meta: components["schemas"]["Meta"];
            /** @description Where devices reach it and how many it takes. */
            spec: components["schemas"]["GatewaySpec"];
            /** @description Its sessions and health. */
            status?: components["schemas"]["GatewayStatus"];
        };
        /** @description Gateway counters shown by the status route. */
        GatewayCounters: {
            /**
             * Format: int64
             * @description Modules sent to devices since start.
             */
            deploys?: number;
            /**
             * Format: int64
             * @description Refused TLS handshakes since start.
             */
            handshakeFailures: number;
            /**
             * Format: int64
             * @description Heartbeats received since start.
             */
            heartbeats: number;
            /**
             * Format: int64
             * @description Sessions ended by protocol errors since start.
             */
            protocolErrors: number;
            /** @description Enrolled sessions now. */
            sessions: number;
        };
        /**
         * @description Health of a gateway.
         * @enum {string}
         */
        GatewayHealth: "Unknown" | "Healthy" | "Unhealthy";
        /** @description Desired state of a gateway. */
        GatewaySpec: {
            /**
             * Format: int32
             * @description Most sessions it should be given.
             */
            capacity: number;
            /**
             * @description `host:port` emulated devices dial (QEMU user networking sees the
             *     host as 10.0.2.2); absent when it equals `endpoint`.
             */
            deviceEndpoint?: string | null;
            /** @description `host:port` devices on the host dial (the simulator). */
            endpoint: string;
        };
        /** @description Observed state of a gateway. */
        GatewayStatus: {
            /** @description Health (the gateway reconciler). */
            health?: components["schemas"]["GatewayHealth"];
            /**
             * Format: int64
             * @description Its last report, Unix milliseconds (the gateway).
             */
            lastSeenMs?: number | null;
            /**
             * Format: int32
             * @description How often it reports (the gateway).
             */
            reportMs?: number | null;
            /**
             * Format: int32
             * @description Enrolled sessions at its last report (the gateway).
             */
            sessions?: number;
        };
        /** @description A `heartbeat` event: a device change that only moved its heartbeat figures. */
        Heartbeat: {
            /**
             * Format: int32
             * @description Its free heap then.
             */
            freeMemory?: number | null;
            /**
             * Format: int64
             * @description Its last heartbeat, Unix milliseconds.
             */
            lastHeartbeatMs?: number | null;
            /** @description The device. */
            name: string;
            /**
             * Format: int64
             * @description Its uptime then.
             */
            uptimeMs?: number | null;
        };
        /** @description One entry of an application's history, as shown to people. */
        HistoryEntry: components["schemas"]["Revision"] & {
            /** @description It is what the spec asks for now. */
            current: boolean;
            phase?: null | components["schemas"]["RolloutPhase"];
            /** @description It is the last one that completed. */
            stable: boolean;
        };
        /** @description A `lagged` event: the client missed changes and should re-read. */
        Lagged: {
            /**
             * Format: int64
             * @description Changes missed.
             */
            missed: number;
        };
        /** @description Resource limits of an app on a device. */
        Limits: {
            /**
             * Format: int64
             * @description Fuel per `init`/`tick` call.
             */
            fuelPerCall: number;
            /**
             * Format: int32
             * @description Linear memory ceiling, 64 KiB pages.
             */
            maxMemoryPages: number;
            /**
             * Format: int32
             * @description Tick interval.
             */
            tickMs: number;
        };
        /** @description Limits as a deploy may give them: any field left out takes its default. */
        LimitsInput: {
            /**
             * Format: int64
             * @description Fuel per `init`/`tick` call.
             */
            fuelPerCall?: number | null;
            /**
             * Format: int32
             * @description Linear memory ceiling, 64 KiB pages.
             */
            maxMemoryPages?: number | null;
            /**
             * Format: int32
             * @description Tick interval.
             */
            tickMs?: number | null;
        };
        /** @description One line an app logged. */
        LogLine: {
            /** @description App that logged it. */
            app: string;
            /** @description Device that sent it. */
            device: string;
            /** @description The text. */
            line: string;
            /**
             * Format: int64
             * @description Platform wall-clock time when received, Unix ms.
             */
            receivedMs: number;
            /**
             * Format: int64
             * @description Device uptime when logged.
             */
            uptimeMs: number;
        };
        /** @description Metadata every resource carries. */
        Meta: {
            /**
             * Format: int64
             * @description Creation time, Unix milliseconds.
             */
            createdMs?: number;
            /**
             * Format: int64
             * @description Bumped when the spec changes; reconcilers compare it with the
             *     generation they last acted on.
             */
            generation?: number;
            /** @description Unique within its kind; DNS-label-like. */
            name: string;
            /**
             * Format: int64
             * @description Bumped by the store on every spec write; a stale write is a conflict.
             */
            resourceVersion?: number;
        };
        /** @description A stored module. */
        ModuleInfo: {
            /** @description Hex SHA-256 of the bytes: the name to deploy it by. */
            digest: string;
            /** @description Import names, as `module.name` (what capabilities it needs). */
            imports: string[];
            /**
             * Format: int32
             * @description Size in bytes.
             */
            size: number;
        };
        /** @description Body of `POST /api/v1/devices`. */
        NewDevice: {
            /** @description Board (`sim` by default). */
            board?: string;
            /** @description Labels. */
            labels?: components["schemas"]["BTreeMap"];
            /** @description Device name. */
            name: string;
        };
        /** @description Body of `POST /api/v1/tokens`. */
        NewToken: {
            /** @description Who it is for. */
            name: string;
            /** @description Its role. */
            role: components["schemas"]["Role"];
        };
        /**
         * @description State of a device's process.
         * @enum {string}
         */
        ProcessState: "Running" | "Restarting" | "Stopped" | "Failed";
        /** @description A device's emulator process, written by the QEMU manager. */
        ProcessStatus: {
            /** @description Why it last exited or cannot start. */
            message?: string | null;
            /**
             * Format: int32
             * @description Restarts since the platform started.
             */
            restarts?: number;
            /**
             * Format: int64
             * @description Start of the current (or last) run, Unix milliseconds.
             */
            startedMs?: number | null;
            /** @description Where the process is. */
            state: components["schemas"]["ProcessState"];
        };
        /** @description One kept revision of an application. */
        Revision: {
            /**
             * Format: int64
             * @description When it was first rolled out, Unix milliseconds.
             */
            createdMs: number;
            outcome?: null | components["schemas"]["RevisionOutcome"];
            /** @description Why, when it did not complete. */
            outcomeMessage?: string | null;
            /**
             * Format: int64
             * @description Number, from 1, never reused.
             */
            revision: number;
            /** @description What runs. */
            template: components["schemas"]["AppTemplate"];
        };
        /**
         * @description How a revision's last rollout ended.
         * @enum {string}
         */
        RevisionOutcome: "Completed" | "RolledBack" | "Aborted" | "Superseded";
        /**
         * @description What a token may do; each role includes the ones below it.
         * @enum {string}
         */
        Role: "viewer" | "operator" | "admin";
        /** @description Body of `POST /api/v1/applications/{name}/rollback`. */
        RollbackRequest: {
            /**
             * Format: int64
             * @description A kept revision (see the history); default: the last one that completed.
             */
            revision?: number | null;
        };
        /**
         * @description What an operator can do to a rollout: the last segment of
         *     `POST /api/v1/applications/{name}/{control}`.
         * @enum {string}
         */
        RolloutControl: "pause" | "resume" | "abort";
        /**
         * @description Where a rollout is.
         * @enum {string}
         */
        RolloutPhase: "Progressing" | "Paused" | "Completed" | "RolledBack" | "Aborted";
        /**
         * @description A rollout's progress, kept in the Application's status so that a
         *     restarted control plane resumes exactly where it was.
         */
        RolloutStatus: {
            /** @description Why it stopped, for people. */
            message?: string | null;
            /** @description Phase. */
            phase: components["schemas"]["RolloutPhase"];
            /**
             * Format: int64
             * @description Revision it replaces (rolled back to), if any.
             */
            previous?: number | null;
            /**
             * Format: int64
             * @description Revision being rolled out.
             */
            revision: number;
            /**
             * @description A return to a kept revision: applied to every device at once, with
             *     no health gate (the fleet ran it before).
             */
            rollback?: boolean;
            /**
             * Format: int32
             * @description Index of the current step (canary), wave (rolling) or stage
             *     (blue-green: 0 installs beside, 1 switches).
             */
            step?: number;
            /**
             * Format: int64
             * @description When the current step started (ms since the Unix epoch).
             */
            stepStartedMs?: number;
            /** @description Devices assigned the new revision so far. */
            touched?: string[];
        };
        /** @description A device's session, written by the gateway that holds (or last held) it. */
        SessionStatus: {
            /** @description App slots as the device reports them. */
            apps?: components["schemas"]["AppObservation"][];
            /** @description A session is open now. */
            connected?: boolean;
            /** @description Agent / firmware version reported at enrollment. */
            firmwareVersion?: string | null;
            /**
             * Format: int32
             * @description Free heap at the last heartbeat.
             */
            freeMemory?: number | null;
            /** @description Gateway holding (or last holding) the session. */
            gateway?: string | null;
            /**
             * Format: int32
             * @description Heartbeat interval the gateway asked for.
             */
            heartbeatMs?: number | null;
            /** @description Last error the session saw (protocol error, rejected deploy, ...). */
            lastError?: string | null;
            /**
             * Format: int64
             * @description Last heartbeat, Unix milliseconds.
             */
            lastHeartbeatMs?: number | null;
            /** @description True when the device is the host simulator, as it said when enrolling. */
            simulated?: boolean;
            /**
             * Format: int64
             * @description Device uptime at the last heartbeat.
             */
            uptimeMs?: number | null;
        };
        /** @description The `snapshot` event: everything, then changes follow. */
        Snapshot: {
            /** @description Heartbeats and app failures of the last ten minutes. */
            activity: components["schemas"]["Activity"];
            /** @description Every application. */
            applications: components["schemas"]["Application"][];
            /** @description Every device. */
            devices: components["schemas"]["Device"][];
            /** @description Every gateway. */
            gateways: components["schemas"]["Gateway"][];
        };
        /** @description Platform summary. */
        Status: {
            /** @description Applications. */
            applications: number;
            /** @description Devices by phase (phases with none are left out). */
            devices: {
                [key: string]: number;
            };
            /** @description Gateway counters. */
            gateway: components["schemas"]["GatewayCounters"];
            /**
             * Format: int32
             * @description Gateway port devices dial.
             */
            gatewayPort: number;
            /** @description Gateways registered. */
            gateways: number;
            /** @description Sessions held now. */
            sessions: number;
            /** @description Devices that are the host simulator. */
            simulatedDevices: number;
            /** @description Crate version. */
            version: string;
        };
        /** @description A device count (`5`) or a share of the targeted devices (`10%`). */
        Step: string;
        /** @description Progress of one rollout step. */
        StepStatus: {
            /**
             * Format: int64
             * @description When its gate passed.
             */
            completedMs?: number | null;
            /**
             * Format: int32
             * @description Of those, failed.
             */
            failed: number;
            /**
             * Format: int32
             * @description Of those, offline (waiting, not failed).
             */
            pendingOffline: number;
            /**
             * Format: int32
             * @description Of those, running it.
             */
            running: number;
            /**
             * Format: int64
             * @description When the step started, Unix milliseconds.
             */
            startedMs?: number | null;
            /** @description Step as the strategy says it (`10%`, `5`, `all`, `install`, `switch`). */
            step: string;
            /**
             * Format: int32
             * @description Devices the step covers, cumulative.
             */
            target: number;
            /**
             * Format: int32
             * @description Devices assigned the new revision.
             */
            updated: number;
        };
        /** @description A rollout strategy. */
        Strategy: {
            /** @enum {string} */
            type: "all-at-once";
        } | {
            /** @description Devices allowed to be updating at once. */
            maxUnavailable: components["schemas"]["Step"];
            /** @enum {string} */
            type: "rolling";
        } | {
            /**
             * Format: int32
             * @description Failures tolerated per step.
             */
            maxFailures?: number;
            /**
             * Format: int64
             * @description Soak time of the health gate.
             */
            soakMs?: number;
            /** @description Cumulative devices updated after each step; increasing, ending at 100%. */
            steps: components["schemas"]["Step"][];
            /** @enum {string} */
            type: "canary";
        } | {
            /**
             * Format: int64
             * @description How long the new revision must stay healthy before the old is dropped.
             */
            soakMs?: number;
            /** @enum {string} */
            type: "blue-green";
        };
        /** @description A terminal answer. */
        TerminalAnswer: {
            /** @description `ok`, `refused` or `failed`. */
            outcome: string;
            /** @description What the device (or the platform, for a refusal) said. */
            output: string;
            /** @description Who refused: `platform` or `device`; absent otherwise. */
            refused_by?: string | null;
        };
        /** @description Body of `POST /api/v1/devices/{name}/terminal`. */
        TerminalRequest: {
            /** @description A command line: `status`, `apps`, `mem`, `uptime`, `restart-app NAME`, `reboot`. */
            command: string;
        };
        /** @description A stored token, without its secret. */
        TokenInfo: {
            /**
             * Format: int64
             * @description Creation time, Unix milliseconds.
             */
            createdMs: number;
            /** @description Stable id (the first 12 hex digits of the hash). */
            id: string;
            /** @description Who it is for, as shown in the audit log. */
            name: string;
            /** @description What it may do. */
            role: components["schemas"]["Role"];
        };
        /** @description The caller. */
        WhoAmI: {
            /** @description Token id. */
            id: string;
            /** @description Token name. */
            name: string;
            /** @description Role. */
            role: components["schemas"]["Role"];
        };
    };
    responses: never;
    parameters: never;
    requestBodies: never;
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
    get_activity: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Recent activity */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Activity"];
                };
            };
            /** @description No valid token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Role too low */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    list_applications: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Applications */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Application"][];
                };
            };
            /** @description No valid token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Role too low */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    get_application: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                name: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The application */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Application"];
                };
            };
            /** @description No valid token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Role too low */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description No such application */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    deploy_application: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                name: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["DeployRequest"];
            };
        };
        responses: {
            /** @description Updated */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Application"];
                };
            };
            /** @description Created */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Application"];
                };
            };
            /** @description Bad field (named) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description No valid token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Role too low */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Module missing or needs ungranted capabilities */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    delete_application: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                name: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Removed */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description No valid token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Role too low */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description No such application */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    history: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                name: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Revisions */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["HistoryEntry"][];
                };
            };
            /** @description No valid token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Role too low */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    rollback: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                name: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["RollbackRequest"];
            };
        };
        responses: {
            /** @description The application */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Application"];
                };
            };
            /** @description No valid token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Role too low */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description No such revision */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    control: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                name: string;
                control: components["schemas"]["RolloutControl"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The application */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Application"];
                };
            };
            /** @description No valid token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Role too low */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description No such application or control */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Nothing to pause, resume or abort */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    audit: {
        parameters: {
            query?: {
                /** @description only this actor */
                actor?: string;
                /** @description only actions starting with this */
                action?: string;
                /** @description ok, refused, denied or failed */
                outcome?: string;
                /** @description Unix ms */
                since?: number;
                /** @description at most 1000 */
                limit?: number;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Entries */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AuditEntry"][];
                };
            };
            /** @description No valid token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Role too low */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    whoami: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The caller */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["WhoAmI"];
                };
            };
            /** @description No valid token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Role too low */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    boards: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Boards */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["BoardInfo"][];
                };
            };
            /** @description No valid token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Role too low */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    list_devices: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Devices */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Device"][];
                };
            };
            /** @description No valid token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Role too low */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    create_device: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["NewDevice"];
            };
        };
        responses: {
            /** @description Created */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Device"];
                };
            };
            /** @description Bad field (named) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description No valid token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Role too low */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Exists */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Board cannot host a runtime */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    get_device: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                name: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The device */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Device"];
                };
            };
            /** @description No valid token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Role too low */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description No such device */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    delete_device: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                name: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description No valid token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Role too low */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description No such device */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    device_bundle: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                name: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Bundle bytes */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description No valid token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Role too low */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description No such device */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    connect: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                name: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The device */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Device"];
                };
            };
            /** @description No valid token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Role too low */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Not a QEMU device */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    device_console: {
        parameters: {
            query?: {
                offset?: number;
            };
            header?: never;
            path: {
                name: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A chunk */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ConsoleChunk"];
                };
            };
            /** @description No valid token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Role too low */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description No console */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    disconnect: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                name: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The device */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Device"];
                };
            };
            /** @description No valid token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Role too low */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Not a QEMU device */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    device_logs: {
        parameters: {
            query?: {
                tail?: number;
            };
            header?: never;
            path: {
                name: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Lines */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["LogLine"][];
                };
            };
            /** @description No valid token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Role too low */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    terminal: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                name: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["TerminalRequest"];
            };
        };
        responses: {
            /** @description The answer (ok, refused, failed) */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TerminalAnswer"];
                };
            };
            /** @description No valid token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Role too low */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Not connected */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description No answer */
            504: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    events: {
        parameters: {
            query?: {
                /** @description the token, for clients that cannot set headers */
                token?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description text/event-stream */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description No valid token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Role too low */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    list_gateways: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Gateways */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Gateway"][];
                };
            };
            /** @description No valid token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Role too low */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    upload_module: {
        parameters: {
            query?: {
                /** @description hex SHA-256 to check the body against */
                digest?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/wasm": number[];
            };
        };
        responses: {
            /** @description Stored already */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ModuleInfo"];
                };
            };
            /** @description Stored */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ModuleInfo"];
                };
            };
            /** @description No valid token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Role too low */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Too large */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Invalid WebAssembly (the validator's message) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    status: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Summary */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Status"];
                };
            };
            /** @description No valid token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Role too low */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    list: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Tokens */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TokenInfo"][];
                };
            };
            /** @description No valid token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Role too low */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    create: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["NewToken"];
            };
        };
        responses: {
            /** @description Created */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["CreatedToken"];
                };
            };
            /** @description Bad field */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description No valid token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Role too low */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    revoke: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Revoked */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description No valid token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Role too low */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description No such token */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    serve: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Text exposition format */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description No valid token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Role too low */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
}
