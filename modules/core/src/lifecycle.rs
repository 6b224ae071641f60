//! Lifecycle states and contract types of an identity.

use serde::{Deserialize, Serialize};
use std::str::FromStr;

crate::text_enum! {
    /// Where a person stands with the hospital.
    pub enum LifecycleStatus: "identity status" {
        /// Known, arrival date not reached yet.
        Pending = "pending",
        /// Working here.
        Active = "active",
        /// Temporarily barred (HR suspension).
        Suspended = "suspended",
        /// Left: accounts disabled, sessions ended, authenticators suspended.
        Departed = "departed",
    }
}

/// The kind of contract, as HR declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContractType {
    /// Titulaire / CDI.
    Permanent,
    /// CDD: ends on its own at its end date.
    FixedTerm,
    /// Intérim.
    TempAgency,
    /// Vacataire.
    Vacataire,
    /// Interne.
    Intern,
    /// Étudiant, stagiaire.
    Student,
}

impl ContractType {
    /// The stored form.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Permanent => "permanent",
            Self::FixedTerm => "fixed_term",
            Self::TempAgency => "temp_agency",
            Self::Vacataire => "vacataire",
            Self::Intern => "intern",
            Self::Student => "student",
        }
    }

    /// Reads the codes HR exports commonly use, in French or English.
    pub fn parse_source(s: &str) -> Option<Self> {
        let n = crate::names::normalize_name(s);
        Some(match n.as_str() {
            "permanent" | "cdi" | "titulaire" | "stagiairefp" => Self::Permanent,
            "fixedterm" | "cdd" | "contractuel" => Self::FixedTerm,
            "tempagency" | "interim" | "interimaire" => Self::TempAgency,
            "vacataire" | "vacation" => Self::Vacataire,
            "intern" | "interne" => Self::Intern,
            "student" | "etudiant" | "stagiaire" | "externe" => Self::Student,
            _ => return None,
        })
    }
}

impl FromStr for ContractType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_source(s).ok_or_else(|| format!("unknown contract type {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        for s in [
            LifecycleStatus::Pending,
            LifecycleStatus::Active,
            LifecycleStatus::Suspended,
            LifecycleStatus::Departed,
        ] {
            assert_eq!(s.as_str().parse::<LifecycleStatus>(), Ok(s));
        }
        assert!("gone".parse::<LifecycleStatus>().is_err());
    }

    #[test]
    fn french_hr_contract_codes_are_understood() {
        assert_eq!(
            ContractType::parse_source("CDD"),
            Some(ContractType::FixedTerm)
        );
        assert_eq!(
            ContractType::parse_source("Intérimaire"),
            Some(ContractType::TempAgency)
        );
        assert_eq!(
            ContractType::parse_source("Étudiant"),
            Some(ContractType::Student)
        );
        assert_eq!(
            ContractType::parse_source("fixed_term"),
            Some(ContractType::FixedTerm)
        );
        assert_eq!(ContractType::parse_source("???"), None);
    }
}
