// @generated automatically by Diesel CLI.

diesel::table! {
    accounts (login) {
        login -> Text,
        oid -> Text,
        source -> Text,
        enabled -> Bool,
        disabled_reason -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Text,
        name -> Text,
        token_hash -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        scopes -> Nullable<Text>,
        expires_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    assignments (id) {
        id -> Text,
        oid -> Text,
        service -> Nullable<Text>,
        uf -> Nullable<Text>,
        finess -> Nullable<Text>,
        start_date -> Nullable<Text>,
        end_date -> Nullable<Text>,
        is_current -> Bool,
        recorded_at -> BigInt,
        ended_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    audit_events (seq) {
        seq -> BigInt,
        id -> Text,
        occurred_at -> BigInt,
        actor -> Text,
        action -> Text,
        target -> Nullable<Text>,
        changes -> Text,
        source -> Nullable<Text>,
        sync_run_id -> Nullable<Text>,
        client_addr -> Nullable<Text>,
        prev_hash -> Text,
        hash -> Text,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    audit_verifications (id) {
        id -> Text,
        started_at -> BigInt,
        started_by -> Text,
        from_seq -> BigInt,
        finished_at -> Nullable<BigInt>,
        checked -> BigInt,
        verified_seq -> Nullable<BigInt>,
        verified_hash -> Nullable<Text>,
        broken_seq -> Nullable<BigInt>,
        broken_reason -> Nullable<Text>,
    }
}

diesel::table! {
    audit_head (id) {
        id -> Integer,
        seq -> BigInt,
        hash -> Text,
    }
}

diesel::table! {
    authenticators (id) {
        id -> Text,
        oid -> Text,
        kind -> Text,
        credential_id -> Text,
        credential -> Text,
        aaguid -> Nullable<Text>,
        label -> Text,
        status -> Text,
        status_reason -> Nullable<Text>,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    badge_pins (oid) {
        oid -> Text,
        pin_hash -> Text,
        failures -> Integer,
        locked_until -> Nullable<BigInt>,
        updated_at -> BigInt,
        checking_until -> Nullable<BigInt>,
        checking_by -> Nullable<Text>,
        replaced_by -> Nullable<Text>,
        replaced_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    badge_transactions (id) {
        id -> Text,
        token_hash -> Text,
        browser_hash -> Text,
        purpose -> Text,
        target_oid -> Nullable<Text>,
        temporary_until -> Nullable<BigInt>,
        workstation_id -> Nullable<Text>,
        seed -> Text,
        transcript -> Text,
        steps -> Integer,
        status -> Text,
        failure -> Nullable<Text>,
        oid -> Nullable<Text>,
        badge_id -> Nullable<Text>,
        badge_key_version -> Nullable<Integer>,
        created_by -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        trace_parent -> Nullable<Text>,
    }
}

diesel::table! {
    badges (id) {
        id -> Text,
        oid -> Text,
        uid -> Text,
        reference_hash -> Text,
        key_version -> Integer,
        kind -> Text,
        status -> Text,
        status_reason -> Nullable<Text>,
        expires_at -> Nullable<BigInt>,
        created_at -> BigInt,
        created_by -> Text,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    compliance_snapshots (taken_on, indicator) {
        taken_on -> Text,
        indicator -> Text,
        numerator -> BigInt,
        denominator -> Nullable<BigInt>,
        taken_at -> BigInt,
    }
}

diesel::table! {
    enrolment_links (token_hash) {
        token_hash -> Text,
        oid -> Text,
        created_by -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    identities (oid) {
        oid -> Text,
        status -> Text,
        birth_family_name -> Text,
        used_family_name -> Nullable<Text>,
        birth_given_names -> Text,
        birth_date -> Nullable<Text>,
        birth_place -> Nullable<Text>,
        birth_country -> Nullable<Text>,
        sex -> Nullable<Text>,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        rpps -> Nullable<Text>,
        adeli -> Nullable<Text>,
        contract_type -> Nullable<Text>,
        arrival_date -> Nullable<Text>,
        departure_date -> Nullable<Text>,
        professions -> Text,
        search_text -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        status_changed_at -> BigInt,
        rpps_verified_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    identity_match_keys (match_key, oid) {
        match_key -> Text,
        oid -> Text,
    }
}

diesel::table! {
    identity_roles (oid, role) {
        oid -> Text,
        role -> Text,
        granted_by -> Text,
        granted_at -> BigInt,
    }
}

diesel::table! {
    lifecycle_events (id) {
        id -> Text,
        oid -> Text,
        kind -> Text,
        reason -> Text,
        occurred_at -> BigInt,
        sync_run_id -> Nullable<Text>,
    }
}

diesel::table! {
    login_failures (key) {
        key -> Text,
        failures -> Integer,
        last_failure_at -> BigInt,
    }
}

diesel::table! {
    psc_links (oid) {
        oid -> Text,
        national_id -> Text,
        psc_sub -> Text,
        acr -> Nullable<Text>,
        auth_mode -> Nullable<Text>,
        id_token_sha256 -> Text,
        linked_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        revoked_reason -> Nullable<Text>,
        revoked_by -> Nullable<Text>,
    }
}

diesel::table! {
    psc_logins (session_id) {
        session_id -> Text,
        id_token -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    psc_requests (state_hash) {
        state_hash -> Text,
        purpose -> Text,
        oid -> Nullable<Text>,
        session_id -> Nullable<Text>,
        browser_hash -> Text,
        nonce -> Text,
        code_verifier -> Text,
        return_to -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    reconciliation_cases (id) {
        id -> Text,
        source -> Text,
        external_id -> Text,
        entry_ref -> Text,
        reason -> Text,
        candidates -> Text,
        status -> Text,
        resolution -> Nullable<Text>,
        resolved_by -> Nullable<Text>,
        opened_at -> BigInt,
        resolved_at -> Nullable<BigInt>,
        sync_run_id -> Nullable<Text>,
    }
}

diesel::table! {
    review_campaigns (id) {
        id -> Text,
        title -> Text,
        client_id -> Nullable<Text>,
        service -> Nullable<Text>,
        created_by -> Text,
        created_at -> BigInt,
        closed_at -> Nullable<BigInt>,
        closed_by -> Nullable<Text>,
    }
}

diesel::table! {
    review_items (campaign_id, oid, client_id, role) {
        campaign_id -> Text,
        oid -> Text,
        client_id -> Text,
        role -> Text,
        decision -> Nullable<Text>,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    source_records (source, external_id) {
        source -> Text,
        external_id -> Text,
        oid -> Nullable<Text>,
        entry_ref -> Text,
        join_key -> Nullable<Text>,
        attributes -> Text,
        content_hash -> Text,
        present -> Bool,
        missing_runs -> Integer,
        first_seen_at -> BigInt,
        last_seen_at -> BigInt,
        last_run_id -> Text,
    }
}

diesel::table! {
    sso_sessions (id) {
        id -> Text,
        token_hash -> Text,
        oid -> Text,
        auth_time -> BigInt,
        expires_at -> BigInt,
        idle_timeout_secs -> BigInt,
        last_seen_at -> BigInt,
        acr -> Text,
        amr -> Text,
        authenticator_id -> Nullable<Text>,
        client_ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        ended_at -> Nullable<BigInt>,
        end_reason -> Nullable<Text>,
        workstation_id -> Nullable<Text>,
        method -> Nullable<Text>,
    }
}

diesel::table! {
    sync_cursors (source) {
        source -> Text,
        cursor_value -> Nullable<Text>,
        last_full_at -> Nullable<BigInt>,
        full_runs -> Integer,
        updated_at -> BigInt,
    }
}

diesel::table! {
    sync_leases (source) {
        source -> Text,
        owner -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    sync_runs (id) {
        id -> Text,
        source -> Text,
        mode -> Text,
        status -> Text,
        started_at -> BigInt,
        finished_at -> Nullable<BigInt>,
        seen -> Integer,
        created -> Integer,
        updated -> Integer,
        unchanged -> Integer,
        departed -> Integer,
        cases_opened -> Integer,
        rejected -> Integer,
        unmatched -> Integer,
        rejections -> Text,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    webauthn_ceremonies (id) {
        id -> Text,
        kind -> Text,
        oid -> Nullable<Text>,
        state -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    habilitations (oid, client_id, role) {
        oid -> Text,
        client_id -> Text,
        role -> Text,
        granted_by -> Text,
        granted_at -> BigInt,
        reviewed_at -> Nullable<BigInt>,
        valid_from -> Nullable<Text>,
        valid_until -> Nullable<Text>,
    }
}

diesel::table! {
    identity_suspensions (id) {
        id -> Text,
        oid -> Text,
        reason -> Text,
        placed_by -> Text,
        placed_at -> BigInt,
        lifted_by -> Nullable<Text>,
        lifted_at -> Nullable<BigInt>,
        lift_reason -> Nullable<Text>,
    }
}

diesel::table! {
    logout_outbox (id) {
        id -> Text,
        session_id -> Text,
        oid -> Text,
        client_id -> Text,
        attempts -> Integer,
        next_attempt_at -> BigInt,
        last_error -> Nullable<Text>,
        delivered_at -> Nullable<BigInt>,
        given_up_at -> Nullable<BigInt>,
        created_at -> BigInt,
        claimed_by -> Nullable<Text>,
        claimed_until -> Nullable<BigInt>,
    }
}

diesel::table! {
    oidc_clients (client_id) {
        client_id -> Text,
        name -> Text,
        secret_hash -> Nullable<Text>,
        auth_method -> Text,
        jwks -> Nullable<Text>,
        redirect_uris -> Text,
        post_logout_redirect_uris -> Text,
        backchannel_logout_uri -> Nullable<Text>,
        require_pkce -> Bool,
        require_acr -> Nullable<Text>,
        id_token_alg -> Text,
        scopes -> Text,
        created_at -> BigInt,
        created_by -> Text,
        secret_rotated_at -> Nullable<BigInt>,
        removed_at -> Nullable<BigInt>,
        psc -> Bool,
    }
}

diesel::table! {
    oidc_grants (id) {
        id -> Text,
        code_hash -> Text,
        client_id -> Text,
        oid -> Text,
        session_id -> Text,
        redirect_uri -> Text,
        scope -> Text,
        nonce -> Nullable<Text>,
        code_challenge -> Nullable<Text>,
        auth_time -> BigInt,
        acr -> Text,
        amr -> Text,
        code_expires_at -> BigInt,
        code_used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        revoked_reason -> Nullable<Text>,
        created_at -> BigInt,
        trace_parent -> Nullable<Text>,
    }
}

diesel::table! {
    oidc_keys (kid) {
        kid -> Text,
        alg -> Text,
        private_key -> Text,
        public_jwk -> Text,
        created_at -> BigInt,
        retired_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    oidc_tokens (token_hash) {
        token_hash -> Text,
        grant_id -> Text,
        kind -> Text,
        client_id -> Text,
        oid -> Text,
        scope -> Text,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::table! {
    oidc_used_assertions (client_id, jti) {
        client_id -> Text,
        jti -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    workstations (id) {
        id -> Text,
        name -> Text,
        location -> Nullable<Text>,
        secret_hash -> Text,
        created_at -> BigInt,
        created_by -> Text,
        last_seen_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    manual_terms (external_id) {
        external_id -> Text,
        sponsor -> Text,
        reason -> Text,
        until_date -> Text,
        created_by -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    master_key_check (id) {
        id -> Integer,
        fingerprint -> Text,
        recorded_at -> BigInt,
    }
}

diesel::joinable!(psc_links -> identities (oid));

diesel::allow_tables_to_appear_in_same_query!(
    accounts,
    api_tokens,
    assignments,
    audit_events,
    audit_head,
    audit_verifications,
    authenticators,
    badge_pins,
    badge_transactions,
    badges,
    compliance_snapshots,
    enrolment_links,
    habilitations,
    identities,
    identity_match_keys,
    identity_roles,
    identity_suspensions,
    lifecycle_events,
    login_failures,
    logout_outbox,
    manual_terms,
    master_key_check,
    oidc_clients,
    oidc_grants,
    oidc_keys,
    oidc_tokens,
    oidc_used_assertions,
    psc_links,
    psc_logins,
    psc_requests,
    reconciliation_cases,
    review_campaigns,
    review_items,
    source_records,
    sso_sessions,
    sync_cursors,
    sync_leases,
    sync_runs,
    webauthn_ceremonies,
    workstations,
);
