# Clavis — textes des pages, en français (langue par défaut).
# Un message par identifiant ; le fichier anglais (../en/clavis.ftl) a les
# mêmes identifiants. Les arguments s'écrivent { $nom }.

## Console : cadre commun

console-title = Console d'administration
console-skip = Aller au contenu
console-menu = Menu de la console
console-sign-out = Se déconnecter
console-search = Rechercher
console-results = { $count ->
    [one] { $count } résultat
   *[other] { $count } résultats
}
console-none = Aucun.
console-pages = Pages de résultats
console-previous = Page précédente
console-next = Page suivante
console-actions = Actions

## Espaces de la console

area-dashboard = Tableau de bord
area-identities = Identités
area-cases = Dossiers de rapprochement
area-syncs = Synchronisations
area-authenticators = Authentificateurs
area-sessions = Sessions
area-applications = Applications
area-habilitations = Habilitations
area-audit = Journal d'audit
area-compliance = Conformité
area-operators = Opérateurs

## Rôles

role-admin = administrateur
role-identity-office = bureau des identités
role-badge-office = bureau des badges
role-helpdesk = support
role-auditor = auditeur

## Statuts d'une identité

status-pending = à venir
status-active = active
status-suspended = suspendue
status-departed = partie

## Refus et erreurs

problem-forbidden-title = Accès refusé
problem-forbidden = Vos rôles ne donnent pas accès à cette page ou à cette action.
problem-not-found-title = Page introuvable
problem-not-found = Cette page n'existe pas, ou ce que vous cherchez n'existe plus.
problem-bad-request-title = Demande incorrecte
problem-bad-request = La demande n'a pas pu être traitée : vérifiez les champs saisis.
problem-internal-title = Erreur interne
problem-internal = Une erreur interne est survenue. Réessayez ; si elle persiste, prévenez l'équipe qui administre Clavis.
problem-back = Retour à la console
problem-my-account = Mon compte
refused-themselves = Un opérateur ne peut pas agir sur son propre compte depuis la console.
refused-higher-role = Cette personne a le rôle « { $role } », que vous n'avez pas : vous ne pouvez pas agir sur son compte.

## Tableau de bord

dashboard-directory = Annuaire
dashboard-open-cases = dossiers de rapprochement ouverts
dashboard-live-sessions = sessions ouvertes
dashboard-last-syncs = Dernières synchronisations
dashboard-no-sync = Aucune synchronisation n'a encore eu lieu.
dashboard-audit-head = Le journal d'audit compte { $seq } événements chaînés.

## Synchronisations

sync-source = Source
sync-started = Début
sync-status = Résultat
sync-seen = Lues
sync-created = Créées
sync-departed = Départs
sync-rejected = Rejetées

## Identités

identities-search = Nom, RPPS, identifiant ou courriel
identities-status = Statut
identities-any-status = Tous
identities-name = Nom
identities-logins = Identifiants
identities-service = Service
identity-traits = État civil et identifiants
identity-sources = Sources
identity-accounts = Comptes
identity-assignments = Affectations
identity-roles = Rôles dans Clavis
identity-sessions = Sessions ouvertes
identity-lifecycle = Arrivées, mouvements et départs
identity-trail = Journal d'audit de cette identité
assignment-current = actuelle
account-enabled = actif
account-disabled = désactivé

trait-birth-family-name = Nom de naissance
trait-used-family-name = Nom d'usage
trait-given-names = Prénoms
trait-birth-date = Date de naissance
trait-birth-place = Lieu de naissance
trait-sex = Sexe
trait-rpps = RPPS
trait-national-id = Identifiant national
trait-adeli = ADELI
trait-email = Courriel
trait-phone = Téléphone
trait-contract = Contrat
trait-professions = Professions
trait-arrival = Arrivée
trait-departure = Départ

## Authentificateurs

authenticator-kind = Type
authenticator-label = Libellé
authenticator-status = État
authenticator-created = Créé le
authenticator-last-used = Dernier usage
authenticator-key = Clé de sécurité
authenticator-badge = Badge

## Sessions

session-started = Ouverte le
session-expires = Expire le
session-method = Méthode
session-workstation = Poste
session-address = Adresse
sessions-all = toutes les sessions
sessions-end = Fermer
sessions-end-all = Fermer toutes ses sessions
sessions-not-found = Cette session n'est plus ouverte.

## Journal d'audit

audit-at = Date
audit-actor = Acteur
audit-target = Cible
audit-action = Action
audit-action-help = Une action précise (login.failed) ou une famille terminée par un point (login.).
audit-changes = Détails
audit-from = Du (inclus)
audit-to = Au (inclus)
audit-export = Exporter cette recherche (CSV)
audit-verify = Vérifier la chaîne
audit-older = Événements plus anciens
audit-chain-broken = La chaîne du journal est rompue : { $where }.

## Authentificateurs : actions

identity-manage-authenticators = Voir et gérer ses authentificateurs
authenticators-of = Authentificateurs de
authenticators-all = tous les authentificateurs
authenticators-active = actifs
authenticators-suspended = suspendus
authenticators-revoked = révoqués
authenticators-models = Clés de sécurité actives par modèle
authenticators-count = Nombre
authenticators-no-aaguid = modèle non déclaré
authenticators-reason = Motif
authenticators-revoke = Révoquer
authenticators-badge-office = Badge temporaire ou nouveau badge : bureau des badges
authenticator-not-found = Cet authentificateur n'existe pas ou est déjà révoqué.
reason-lost = perdu
reason-stolen = volé
reason-broken = cassé
reason-other = autre
pin-unlock = Débloquer le code PIN
pin-none = Cette personne n'a pas de code PIN de badge.
enrolment-link-issue = Créer un lien d'enrôlement de clé
enrolment-link-title = Lien d'enrôlement
enrolment-link-once = Ce lien n'est affiché qu'une fois. Transmettez-le à la personne par un canal sûr ; il ne sert qu'une fois.
enrolment-link-label = Lien à usage unique
enrolment-link-expires = Valable jusqu'au { $at }.
enrolment-link-back = Retour à la fiche de la personne

## Dossiers de rapprochement

cases-open-only = dossiers ouverts seulement
cases-all = tous les dossiers, résolus compris
case-entry = Fiche
case-reason = Motif
case-opened = Ouvert le
case-candidates = Candidats
case-open = ouvert
case-resolved = résolu
case-title = Dossier : { $entry }
case-resolution = Décision
case-compare = La fiche et les candidats, attribut par attribut
case-attribute = Attribut
case-record = Fiche de la source
case-differs = différent
case-decide = Décider
case-decision = Décision
case-link = C'est la personne choisie ci-dessous : rattacher la fiche
case-new = C'est une autre personne : créer une identité
case-reject = Cette fiche ne correspond à personne : la rejeter
case-close = Clore le dossier (données corrigées dans le SI-RH)
case-candidate = Personne à rattacher
case-comment = Commentaire (obligatoire : pourquoi cette décision)
case-apply = Appliquer la décision
case-reason-already-listed-by-source = la source liste déjà cette personne sous une autre fiche
case-reason-birth-place-differs = même nom et date de naissance, lieu de naissance différent
case-reason-join-key-ambiguous = la clé de jointure désigne plusieurs personnes
case-reason-join-key-traits-conflict = la clé de jointure désigne une personne à l'état civil différent
case-reason-rpps-differs = même personne apparente, RPPS différent
case-reason-rpps-held-by-another = RPPS déjà porté par une autre personne
case-reason-rpps-known-traits-differ = RPPS déjà connu, porté par une personne à l'état civil différent
case-reason-national-id-mismatch = Pro Santé Connect a donné un autre identifiant national que le SI-RH
case-reason-family-name-mismatch = Pro Santé Connect a donné un autre nom de famille que le SI-RH
case-reason-no-national-id-in-hr = le SI-RH ne connaît pas d'identifiant national pour cette personne

## Identités manuelles

manual-title = Identités manuelles
manual-intro = Les personnes hors SI-RH (consultants, vacataires absents du SI-RH, personnels de prestataires) : chacune a un parrain, un motif et une date de fin, après laquelle elle part comme tout départ.
manual-in-case = (dossier de rapprochement en cours)
manual-sponsor = Parrain
manual-reason = Motif
manual-until = Dernier jour
manual-until-help = Au plus un an ; la personne part le lendemain. Renouvelez avant si elle reste.
manual-given-help = Tous les prénoms de naissance, dans l'ordre, séparés par des virgules.
manual-new = Ajouter une personne hors SI-RH
manual-add = Ajouter
identity-terms = Personne hors SI-RH

## Conformité

compliance-computed = Calculé le { $at }
compliance-scope-all = population : tout le personnel
compliance-scope-rpps = population : professions inscrites au RPPS
compliance-indicator = Indicateur
compliance-value = Valeur
compliance-list = Voir la liste
compliance-share = { $percent } % ({ $numerator } sur { $denominator })
compliance-nobody = sans objet (personne)
compliance-duration = { $days } j { $hours } h
compliance-delays = médiane { $median }, maximum { $max } ({ $count } personnes)
compliance-second-factor = Personnel actif équipé d'un second facteur (badge ou clé)
compliance-mfa-logins = Connexions à deux facteurs (30 derniers jours)
compliance-rpps = Professionnels actifs ayant un RPPS
compliance-rpps-verified = RPPS vérifiés depuis moins de 2 ans (EXI 27)
compliance-departed = Personnes parties gardant un accès (doit être 0)
compliance-departure-delay = Délai entre la date de départ RH et la fermeture des accès (12 mois)
compliance-arrival-delay = Délai entre l'arrivée RH et le premier authentificateur (12 mois)
compliance-arrived-unequipped = Arrivées des 12 derniers mois encore sans authentificateur
compliance-old-cases = Dossiers de rapprochement ouverts depuis plus de { $days } jours
compliance-old-cases-title = Dossiers de rapprochement anciens
compliance-logins = Méthodes de connexion (30 derniers jours)
compliance-holds-account = compte actif
compliance-holds-session = session ouverte
compliance-holds-key = clé de sécurité active
compliance-holds-badge = badge actif
compliance-holds-psc-link = lien Pro Santé Connect valide
compliance-holds-habilitation = habilitation

## Synchronisations

sync-sources = Sources configurées
sync-no-source = Aucune source n'est configurée ([[directory.sources]]).
sync-kind = Type
sync-full = complète
sync-simulate = Simuler
sync-runs = Exécutions récentes
sync-running = Une synchronisation est en cours : cette page se met à jour toute seule.
sync-mode = Mode
sync-duration = Durée
sync-updated = Modifiées
sync-cases = Dossiers ouverts
sync-rejections = Fiches rejetées
sync-field = Champ
sync-run-title = Synchronisation de { $source }
sync-run-not-found = Cette exécution n'existe pas.
sync-dry-run-title = Simulation : { $source }
sync-dry-run-intro = Simulation terminée le { $at } : rien n'a été écrit. Voici ce que la synchronisation changerait.
sync-would-create = Identités qui seraient créées
sync-would-update = Identités qui seraient modifiées (dont les mouvements)
sync-would-depart = Départs qui seraient appliqués
sync-would-open-cases = Dossiers de rapprochement qui seraient ouverts
sync-run-now = Lancer cette synchronisation
refused-operator-target = Cette personne a un rôle d'opérateur : seul un administrateur peut agir sur ses authentificateurs ou son identité.
case-entry-changed = La fiche a changé depuis son affichage (une synchronisation est passée) : relisez le dossier avant de décider.

## Habilitations et revue annuelle

review-campaigns = Campagnes de revue
review-title = Intitulé
review-scope = Périmètre
review-opened = Ouverte le
review-progress-title = Avancement
review-progress = { $decided } sur { $total } décidées, { $removed } retirées
review-closed = close
review-by-application = toutes les habilitations d'une application
review-by-service = les habilitations des personnes d'un service
review-open = Ouvrir la campagne
review-scope-application = application { $client }
review-scope-service = service { $service }
review-role = Rôle
review-granted = Accordé le
review-confirmed = Dernière confirmation
review-not-found = Cette campagne n'existe pas.
review-items = Habilitations à revoir
review-decision = Décision
review-kept = conservée
review-removed = retirée
review-awaiting = à décider
review-keep = Conserver
review-remove = Retirer
review-close = Clore la campagne
compliance-reviewed = Habilitations confirmées par une revue depuis moins de 12 mois

## Applications

application-name = Nom
application-public = publique (PKCE, sans secret)
application-confidential = confidentielle
application-redirect-uris = Adresses de retour (redirect_uri)
application-uris-help = Une adresse par ligne, https (http seulement vers cette machine), comparées à l'identique.
application-logout-uris = Adresses après déconnexion
application-backchannel = Déconnexion back-channel
application-require-acr = Niveau d'authentification exigé (acr)
application-public-help = Application publique (pas de secret ; PKCE obligatoire)
application-register = Enregistrer l'application
application-new = Enregistrer une application
application-secret-once = Le secret n'est affiché qu'une fois : copiez-le maintenant dans la configuration de l'application.
application-discovery = Découverte OpenID
application-required = exigé
application-scopes = Portées
application-id-token-alg = Signature de l'ID token
application-rotate = Changer le secret
application-remove = Retirer l'application

## Opérateurs

operators-roles = Rôles dans Clavis
operators-granted-by = Accordé par
operators-revoke = Retirer
operators-who = Personne (matricule, RPPS, identifiant ou oid)
operators-grant = Accorder le rôle
operators-tokens = Jetons de l'API d'administration
operators-token-revoked = Révoqué le
operators-token-name = Nom du jeton (lettres, chiffres, . _ -)
operators-token-create = Créer un jeton
operators-token = Jeton
operators-token-once = Jeton « { $name } » créé : il n'est affiché qu'une fois. Copiez-le maintenant dans l'outil qui l'utilisera.
operators-token-everything = toute l'API (jeton d'avant les portées)
operators-token-expires = Expire le
operators-scope-none = rien
operators-scope-read = lecture
operators-scope-write = lecture et actions
operators-token-days = Durée de validité (jours, au plus 366)

## Identité : identité nationale et habilitations

identity-national = Identité nationale
identity-rpps-verified = RPPS vérifié le
identity-never = jamais
identity-psc-link = Lien Pro Santé Connect
identity-psc-valid = valide jusqu'au { $until }
identity-psc-expired = expiré
identity-psc-revoked = retiré
identity-confirmed = confirmée le { $at }
identity-not-reviewed = jamais revue

suspension-title = Suspension
suspension-in-force = Suspendue par un opérateur depuis le
suspension-reason = Motif de la suspension
suspension-lift-reason = Motif de la levée
suspension-place = Suspendre maintenant
suspension-lift = Lever la suspension
suspension-effects = La personne ne peut plus se connecter : ses comptes sont désactivés, ses sessions fermées, ses clés et badges suspendus, son lien Pro Santé Connect retiré. La levée lui rend ses comptes, clés et badges.
suspension-history = Suspensions précédentes
suspension-placed = Placée
suspension-lifted = Levée

compliance-report = Rapport pour le dossier d'homologation
compliance-report-html = à imprimer
compliance-trend = Tendance (12 mois)
compliance-trends = Évolution sur 12 mois (dernier relevé de chaque mois)
compliance-trend-label = { $label } : { $from } en { $from_month }, { $to } en { $to_month }
compliance-no-history = Pas encore d'historique
compliance-percent = { $percent } %
report-title = Rapport de conformité RIE / HospiConnect
report-establishment = Établissement
report-generated = Émis le
report-issued-by = Émis par
report-population = Population
report-indicators = Indicateurs
report-chain-head = Scellement par le journal d'audit
report-seal = À l'émission de ce rapport, le dernier événement du journal d'audit était le n° { $seq }, d'empreinte { $hash }. L'émission est elle-même enregistrée au journal (événement compliance.reported) avec l'empreinte SHA-256 du document remis : une fois la chaîne vérifiée (clavis audit verify), l'empreinte de ce fichier doit s'y retrouver.
report-print-hint = imprimez cette page depuis le navigateur (le menu n'est pas imprimé)
report-footer = { $title } · émis le { $at } · page { $page } sur { $pages }
report-scope-all = tout le personnel
report-scope-rpps = professions inscrites au RPPS

dashboard-logins-per-hour = Connexions par heure (24 dernières heures)
dashboard-figures = Voir les chiffres
dashboard-hour = Heure
dashboard-last-24h = Échecs et blocages (24 dernières heures)
dashboard-failed-logins = connexions refusées
dashboard-refused-badges = badges refusés
dashboard-pin-lockouts = codes PIN bloqués
dashboard-upkeep = Entretien et santé
dashboard-expiring-badges = badges temporaires expirant dans les 7 jours
dashboard-keys-to-rotate = clés de signature à renouveler (plus d'un an)
dashboard-key-age = en service depuis { $days } jours (clavis keys rotate)
dashboard-health = Santé
health-database = Base de données
health-ok = normal
health-clock = Horloge (écart avec la base)
health-clock-skew = { $ms } ms
health-logouts = Déconnexions à notifier aux applications
health-logouts-owed = { $count } en attente depuis le { $since }
method-badge = badge + code PIN
method-fido2 = clé FIDO2
method-psc = Pro Santé Connect
method-other = autre

application-edit = Modifier les réglages
application-no-acr = aucun
application-scopes-hint = Séparés par des espaces, parmi : { $scopes } (openid est obligatoire). Ils décident des informations que l'application reçoit.
application-save = Enregistrer (après une connexion récente)

habilitation-validity = Validité
habilitation-out-of-force = hors période
habilitation-revoke = Retirer
habilitation-person = Personne (oid, RPPS ou identifiant)
habilitation-from = Premier jour (facultatif)
habilitation-until = Dernier jour (facultatif)
habilitation-grant = Attribuer

audit-chain-intact-up-to = La chaîne du journal est intacte jusqu'à l'événement n° { $seq } (dernière vérification terminée).
audit-chain-never = La chaîne du journal n'a pas encore été vérifiée.
audit-walk-new = Vérifier les événements ajoutés depuis
audit-walk-whole-start = Vérifier tout le journal (en arrière-plan)
audit-walk-help = Chaque heure, Clavis vérifie les événements ajoutés depuis la dernière vérification intacte. La vérification complète reprend tout depuis le premier événement ; « clavis audit verify » la fait aussi sur le serveur.
audit-walks = Vérifications
audit-walk-scope = Portée
audit-walk-whole = tout le journal
audit-walk-from = depuis l'événement n° { $seq }
audit-walk-checked = Événements vérifiés
audit-walk-result = Résultat
audit-walk-running = en cours
audit-walk-intact = intacte
audit-walk-broken = ROMPUE

identity-psc-unlink-note = Motif du retrait du lien Pro Santé Connect
identity-psc-unlink = Retirer le lien Pro Santé Connect (après une connexion récente)
application-keys = Clés de signature des jetons
application-key-age = En service depuis
application-key-days = { $days } jours
application-key-due = à renouveler
application-key-rotate = Renouveler (après une connexion récente)
audit-walk-failed = interrompue (voir le journal du service)
