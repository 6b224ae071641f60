# Clavis — page texts in English. Same message ids as ../fr/clavis.ftl.

## Console: common frame

console-title = Administration console
console-skip = Skip to content
console-menu = Console menu
console-sign-out = Sign out
console-search = Search
console-results = { $count ->
    [one] { $count } result
   *[other] { $count } results
}
console-none = None.
console-pages = Result pages
console-previous = Previous page
console-next = Next page
console-actions = Actions

## Console areas

area-dashboard = Dashboard
area-identities = Identities
area-cases = Reconciliation cases
area-syncs = Synchronisations
area-authenticators = Authenticators
area-sessions = Sessions
area-applications = Applications
area-habilitations = Habilitations
area-audit = Audit journal
area-compliance = Compliance
area-operators = Operators

## Roles

role-admin = administrator
role-identity-office = identity office
role-badge-office = badge office
role-helpdesk = helpdesk
role-auditor = auditor

## Identity statuses

status-pending = pending
status-active = active
status-suspended = suspended
status-departed = departed

## Refusals and errors

problem-forbidden-title = Access denied
problem-forbidden = Your roles do not give access to this page or action.
problem-not-found-title = Page not found
problem-not-found = This page does not exist, or what you are looking for no longer does.
problem-bad-request-title = Bad request
problem-bad-request = The request could not be processed: check the fields.
problem-internal-title = Internal error
problem-internal = An internal error occurred. Try again; if it persists, tell the team that runs Clavis.
problem-back = Back to the console
problem-my-account = My account
refused-themselves = An operator cannot act on their own account from the console.
refused-higher-role = This person has the role "{ $role }", which you do not: you cannot act on their account.

## Dashboard

dashboard-directory = Directory
dashboard-open-cases = open reconciliation cases
dashboard-live-sessions = open sessions
dashboard-last-syncs = Last synchronisations
dashboard-no-sync = No synchronisation has run yet.
dashboard-audit-head = The audit journal holds { $seq } chained events.

## Synchronisations

sync-source = Source
sync-started = Started
sync-status = Outcome
sync-seen = Read
sync-created = Created
sync-departed = Departures
sync-rejected = Rejected

## Identities

identities-search = Name, RPPS, login or email
identities-status = Status
identities-any-status = Any
identities-name = Name
identities-logins = Logins
identities-service = Service
identity-traits = Civil status and identifiers
identity-sources = Sources
identity-accounts = Accounts
identity-assignments = Assignments
identity-roles = Roles in Clavis
identity-sessions = Open sessions
identity-lifecycle = Arrivals, moves and departures
identity-trail = Audit trail of this identity
assignment-current = current
account-enabled = enabled
account-disabled = disabled

trait-birth-family-name = Birth family name
trait-used-family-name = Used family name
trait-given-names = Given names
trait-birth-date = Birth date
trait-birth-place = Birth place
trait-sex = Sex
trait-rpps = RPPS
trait-national-id = National id
trait-adeli = ADELI
trait-email = Email
trait-phone = Phone
trait-contract = Contract
trait-professions = Professions
trait-arrival = Arrival
trait-departure = Departure

## Authenticators

authenticator-kind = Kind
authenticator-label = Label
authenticator-status = State
authenticator-created = Created
authenticator-last-used = Last used
authenticator-key = Security key
authenticator-badge = Badge

## Sessions

session-started = Opened
session-expires = Expires
session-method = Method
session-workstation = Workstation
session-address = Address
sessions-all = all sessions
sessions-end = End
sessions-end-all = End all their sessions
sessions-not-found = This session is no longer open.

## Audit journal

audit-at = Date
audit-actor = Actor
audit-target = Target
audit-action = Action
audit-action-help = One action (login.failed) or a family ending with a dot (login.).
audit-changes = Details
audit-from = From (included)
audit-to = To (included)
audit-export = Export this search (CSV)
audit-verify = Verify the chain
audit-older = Older events
audit-chain-broken = The journal's chain is broken: { $where }.

## Authenticators: actions

identity-manage-authenticators = See and manage their authenticators
authenticators-of = Authenticators of
authenticators-all = all authenticators
authenticators-active = active
authenticators-suspended = suspended
authenticators-revoked = revoked
authenticators-models = Active security keys by model
authenticators-count = Count
authenticators-no-aaguid = model not declared
authenticators-reason = Reason
authenticators-revoke = Revoke
authenticators-badge-office = Temporary or new badge: badge office
authenticator-not-found = This authenticator does not exist or is already revoked.
reason-lost = lost
reason-stolen = stolen
reason-broken = broken
reason-other = other
pin-unlock = Unlock the PIN
pin-none = This person has no badge PIN.
enrolment-link-issue = Create a key enrolment link
enrolment-link-title = Enrolment link
enrolment-link-once = This link is shown once. Give it to the person through a safe channel; it works once.
enrolment-link-label = One-time link
enrolment-link-expires = Valid until { $at }.
enrolment-link-back = Back to the person's page

## Reconciliation cases

cases-open-only = open cases only
cases-all = every case, resolved ones too
case-entry = Entry
case-reason = Reason
case-opened = Opened
case-candidates = Candidates
case-open = open
case-resolved = resolved
case-title = Case: { $entry }
case-resolution = Decision
case-compare = The entry and the candidates, attribute by attribute
case-attribute = Attribute
case-record = The source's entry
case-differs = different
case-decide = Decide
case-decision = Decision
case-link = It is the person chosen below: link the entry
case-new = It is someone else: create an identity
case-reject = This entry is no one: reject it
case-close = Close the case (data fixed in HR)
case-candidate = Person to link to
case-comment = Comment (required: why this decision)
case-apply = Apply the decision
case-reason-already-listed-by-source = the source already lists this person under another entry
case-reason-birth-place-differs = same name and birth date, different birth place
case-reason-join-key-ambiguous = the join key names several people
case-reason-join-key-traits-conflict = the join key names someone with other civil status
case-reason-rpps-differs = apparently the same person, another RPPS
case-reason-rpps-held-by-another = RPPS already held by someone else
case-reason-rpps-known-traits-differ = RPPS already known, held by someone with a different civil status
case-reason-national-id-mismatch = Pro Santé Connect gave another national id than HR
case-reason-family-name-mismatch = Pro Santé Connect gave another family name than HR
case-reason-no-national-id-in-hr = HR knows no national id for this person

## Manual identities

manual-title = Manual identities
manual-intro = People outside HR (consultants, vacataires not in HR, vendor staff): each has a sponsor, a reason and an end date, after which they depart like any departure.
manual-in-case = (reconciliation case open)
manual-sponsor = Sponsor
manual-reason = Reason
manual-until = Last day
manual-until-help = At most a year; the person departs the day after. Renew before if they stay.
manual-given-help = Every birth given name, in order, separated by commas.
manual-new = Add a person outside HR
manual-add = Add
identity-terms = Person outside HR

## Compliance

compliance-computed = Computed on { $at }
compliance-scope-all = population: all staff
compliance-scope-rpps = population: RPPS professions
compliance-indicator = Indicator
compliance-value = Value
compliance-list = See the list
compliance-share = { $percent } % ({ $numerator } of { $denominator })
compliance-nobody = not applicable (nobody)
compliance-duration = { $days } d { $hours } h
compliance-delays = median { $median }, maximum { $max } ({ $count } people)
compliance-second-factor = Active staff with a second factor (badge or key)
compliance-mfa-logins = Two-factor logins (last 30 days)
compliance-rpps = Active professionals with an RPPS
compliance-rpps-verified = RPPS verified within 2 years (EXI 27)
compliance-departed = Departed people keeping an access (must be 0)
compliance-departure-delay = Delay from the HR departure date to access closed (12 months)
compliance-arrival-delay = Delay from the HR arrival to the first authenticator (12 months)
compliance-arrived-unequipped = Arrivals of the last 12 months still without an authenticator
compliance-old-cases = Reconciliation cases open for more than { $days } days
compliance-old-cases-title = Old reconciliation cases
compliance-logins = Sign-in methods (last 30 days)
compliance-holds-account = enabled account
compliance-holds-session = open session
compliance-holds-key = active security key
compliance-holds-badge = active badge
compliance-holds-psc-link = valid Pro Santé Connect link
compliance-holds-habilitation = habilitation

## Synchronisations

sync-sources = Configured sources
sync-no-source = No source is configured ([[directory.sources]]).
sync-kind = Kind
sync-full = full
sync-simulate = Simulate
sync-runs = Recent runs
sync-running = A synchronisation is running: this page updates itself.
sync-mode = Mode
sync-duration = Duration
sync-updated = Updated
sync-cases = Cases opened
sync-rejections = Rejected entries
sync-field = Field
sync-run-title = Synchronisation of { $source }
sync-run-not-found = This run does not exist.
sync-dry-run-title = Simulation: { $source }
sync-dry-run-intro = Simulation finished at { $at }: nothing was written. This is what the synchronisation would change.
sync-would-create = Identities that would be created
sync-would-update = Identities that would be updated (moves included)
sync-would-depart = Departures that would be applied
sync-would-open-cases = Reconciliation cases that would be opened
sync-run-now = Run this synchronisation
refused-operator-target = This person holds an operator role: only an administrator may act on their authenticators or identity.
case-entry-changed = The entry changed since it was shown (a synchronisation ran): read the case again before deciding.

## Habilitations and yearly review

review-campaigns = Review campaigns
review-title = Title
review-scope = Scope
review-opened = Opened
review-progress-title = Progress
review-progress = { $decided } of { $total } decided, { $removed } removed
review-closed = closed
review-by-application = every habilitation of one application
review-by-service = the habilitations of one service's people
review-open = Open the campaign
review-scope-application = application { $client }
review-scope-service = service { $service }
review-role = Role
review-granted = Granted
review-confirmed = Last confirmed
review-not-found = This campaign does not exist.
review-items = Habilitations to review
review-decision = Decision
review-kept = kept
review-removed = removed
review-awaiting = awaiting
review-keep = Keep
review-remove = Remove
review-close = Close the campaign
compliance-reviewed = Habilitations confirmed by a review within 12 months

## Applications

application-name = Name
application-public = public (PKCE, no secret)
application-confidential = confidential
application-redirect-uris = Redirect URIs
application-uris-help = One per line, https (http to this machine only), compared exactly.
application-logout-uris = Post-logout redirect URIs
application-backchannel = Back-channel logout
application-require-acr = Required authentication level (acr)
application-public-help = Public application (no secret; PKCE required)
application-register = Register the application
application-new = Register an application
application-secret-once = The secret is shown once: copy it now into the application's configuration.
application-discovery = OpenID discovery
application-required = required
application-scopes = Scopes
application-id-token-alg = ID token signature
application-rotate = Change the secret
application-remove = Remove the application

## Operators

operators-roles = Roles in Clavis
operators-granted-by = Granted by
operators-revoke = Withdraw
operators-who = Person (staff number, RPPS, login or oid)
operators-grant = Grant the role
operators-tokens = Admin API tokens
operators-token-revoked = Revoked
operators-token-name = Token name (letters, digits, . _ -)
operators-token-create = Create a token
operators-token = Token
operators-token-once = Token "{ $name }" created: it is shown once. Copy it now into the tool that will use it.
operators-token-everything = the whole API (a token from before scopes)
operators-token-expires = Expires
operators-scope-none = nothing
operators-scope-read = read
operators-scope-write = read and act
operators-token-days = Valid for (days, at most 366)

## Identity: national identity and habilitations

identity-national = National identity
identity-rpps-verified = RPPS verified on
identity-never = never
identity-psc-link = Pro Santé Connect link
identity-psc-valid = valid until { $until }
identity-psc-expired = expired
identity-psc-revoked = removed
identity-confirmed = confirmed on { $at }
identity-not-reviewed = never reviewed

suspension-title = Suspension
suspension-in-force = Suspended by an operator since
suspension-reason = Reason for the suspension
suspension-lift-reason = Reason for lifting it
suspension-place = Suspend now
suspension-lift = Lift the suspension
suspension-effects = The person can no longer sign in: their accounts are disabled, their sessions ended, their keys and badges suspended, their Pro Santé Connect link removed. Lifting it gives back their accounts, keys and badges.
suspension-history = Earlier suspensions
suspension-placed = Placed
suspension-lifted = Lifted

compliance-report = Report for the homologation file
compliance-report-html = to print
compliance-trend = Trend (12 months)
compliance-trends = Over 12 months (last figure of each month)
compliance-trend-label = { $label }: { $from } in { $from_month }, { $to } in { $to_month }
compliance-no-history = No history yet
compliance-percent = { $percent } %
report-title = RIE / HospiConnect compliance report
report-establishment = Establishment
report-generated = Issued on
report-issued-by = Issued by
report-population = Population
report-indicators = Indicators
report-chain-head = Sealed by the audit journal
report-seal = When this report was issued, the audit journal's last event was no. { $seq }, hash { $hash }. Issuing it is itself recorded in the journal (event compliance.reported) with the SHA-256 of the document delivered: once the chain is verified (clavis audit verify), this file's hash must be found there.
report-print-hint = print this page from the browser (the menu is not printed)
report-footer = { $title } · issued { $at } · page { $page } of { $pages }
report-scope-all = all staff
report-scope-rpps = professions registered with the RPPS

dashboard-logins-per-hour = Logins per hour (last 24 hours)
dashboard-figures = Show the figures
dashboard-hour = Hour
dashboard-last-24h = Failures and lockouts (last 24 hours)
dashboard-failed-logins = failed logins
dashboard-refused-badges = refused badges
dashboard-pin-lockouts = locked PINs
dashboard-upkeep = Upkeep and health
dashboard-expiring-badges = temporary badges ending within 7 days
dashboard-keys-to-rotate = signing keys to rotate (over a year old)
dashboard-key-age = in service for { $days } days (clavis keys rotate)
dashboard-health = Health
health-database = Database
health-ok = normal
health-clock = Clock (offset from the database)
health-clock-skew = { $ms } ms
health-logouts = Logouts owed to applications
health-logouts-owed = { $count } waiting since { $since }
method-badge = badge + PIN
method-fido2 = FIDO2 key
method-psc = Pro Santé Connect
method-other = other

application-edit = Change the settings
application-no-acr = none
application-scopes-hint = Separated by spaces, among: { $scopes } (openid is required). They decide what the application receives.
application-save = Save (after a recent login)

habilitation-validity = Validity
habilitation-out-of-force = out of its period
habilitation-revoke = Withdraw
habilitation-person = Person (oid, RPPS or login)
habilitation-from = First day (optional)
habilitation-until = Last day (optional)
habilitation-grant = Grant

audit-chain-intact-up-to = The journal's chain is intact up to event no. { $seq } (last finished verification).
audit-chain-never = The journal's chain has not been verified yet.
audit-walk-new = Verify the events added since
audit-walk-whole-start = Verify the whole journal (in the background)
audit-walk-help = Every hour, Clavis verifies the events added since the last intact verification. The whole verification starts again from the first event; "clavis audit verify" does it on the server too.
audit-walks = Verifications
audit-walk-scope = Scope
audit-walk-whole = the whole journal
audit-walk-from = from event no. { $seq }
audit-walk-checked = Events verified
audit-walk-result = Result
audit-walk-running = running
audit-walk-intact = intact
audit-walk-broken = BROKEN

identity-psc-unlink-note = Why the Pro Santé Connect link is withdrawn
identity-psc-unlink = Withdraw the Pro Santé Connect link (after a recent login)
application-keys = Token signing keys
application-key-age = In service for
application-key-days = { $days } days
application-key-due = to rotate
application-key-rotate = Rotate (after a recent login)
audit-walk-failed = interrupted (see the service's log)
