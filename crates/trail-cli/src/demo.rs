//! Demo data: one year of audit from a fictional, mid-size Immuta deployment.
//!
//! A fresh Trail is empty, and an empty audit log shows nothing of what Trail is for. This module
//! produces a year of believable audit so that searches, facets and the legacy `GET /audit` view
//! have something to chew on, without shipping a data file:
//!
//! - a cast of ~300 users (Zipf-like activity; profileId 1 is `immuta_system_account`), ~120 data
//!   sources on Snowflake, Databricks and Trino, 25 projects with 1-3 of 15 purposes, plus groups,
//!   tags, global policies, domains, identification frameworks and classifiers;
//! - ~70% query audit as UAM (`SnowflakeQuery`, `DatabricksQuery`, `TrinoQuery`), some joining two
//!   or three tables, some under a project with its purposes, some failed or denied;
//! - ~20% UAM application events spread over every event of [`trail_model::catalog::CATALOG`];
//! - ~10% legacy records (the 14 fields of a `GET /audit` hit plus `dataSourceId`, `projectId`,
//!   `outcome`) of the types that have no UAM event, covering all six outcomes.
//!
//! Event times follow a weekday, business-hours rhythm with quiet holidays and growing usage over
//! the 365 days before [`DemoSpec::end_ms`]. Documents come out in *received* order: query audit
//! lands minutes to hours after the query ran, so its `eventTimestamp` trails the events around it,
//! as in a real audit feed.
//!
//! Everything is derived from [`DemoSpec::seed`] through `StdRng`: the same spec always yields the
//! same documents, byte for byte. Documents are written as compact JSON directly into one `String`
//! each (no intermediate `serde_json::Value`), which keeps generation well above the CLI's needs.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::fmt::Write as _;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use trail_model::catalog::CATALOG;
use trail_model::timefmt::format_iso_ms;

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;
const MINUTE_MS: i64 = 60_000;
const TENANT: &str = "demo.trail.local";
/// Share of query events, then of application events; the rest are legacy records.
const QUERY_SHARE: f64 = 0.70;
const APP_SHARE: f64 = 0.20;

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoSpec {
    /// How many documents.
    pub events: usize,
    /// Everything (cast and events) is derived from this seed.
    pub seed: u64,
    /// Events span the 365 days before this instant (epoch milliseconds, exclusive).
    pub end_ms: i64,
}

impl Default for DemoSpec {
    fn default() -> Self {
        DemoSpec {
            events: 250_000,
            seed: 42,
            // 2026-11-01T00:00:00Z
            end_ms: 1_793_491_200_000,
        }
    }
}

/// The demo's cast, each list ordered from the most active (or most queried) down, so that the
/// first entries make good examples for a search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoCast {
    pub data_source_ids: Vec<i64>,
    pub project_ids: Vec<i64>,
    /// Real users only; profileId 1 is `immuta_system_account`.
    pub profile_ids: Vec<i64>,
}

/// The cast of a spec (independent of `events`).
pub fn demo_cast(spec: &DemoSpec) -> DemoCast {
    let m = Model::new(spec.seed, spec.end_ms);
    DemoCast {
        data_source_ids: m.ds_rank.iter().map(|&d| m.ds[d].id).collect(),
        project_ids: m.proj_rank.iter().map(|&p| m.projects[p].id).collect(),
        profile_ids: m.user_rank.iter().map(|&u| m.users[u].profile_id).collect(),
    }
}

/// Deterministic for a given spec; yields `spec.events` JSON documents (one event each, compact)
/// in received order, which is roughly time order with late-arriving query audit.
pub fn demo_events(spec: &DemoSpec) -> impl Iterator<Item = String> {
    DemoEvents {
        m: Model::new(spec.seed, spec.end_ms),
        rng: StdRng::seed_from_u64(spec.seed ^ 0x6576_656e_7473_2121),
        sc: Scratch::default(),
        n: spec.events,
        generated: 0,
        emitted: 0,
        last_t: i64::MIN,
        heap: BinaryHeap::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Static vocabulary
// ---------------------------------------------------------------------------------------------

/// (display, email part)
const FIRST: &[(&str, &str)] = &[
    ("Taylor", "taylor"),
    ("Jordan", "jordan"),
    ("Morgan", "morgan"),
    ("Casey", "casey"),
    ("Riley", "riley"),
    ("Avery", "avery"),
    ("Quinn", "quinn"),
    ("Jamie", "jamie"),
    ("Alex", "alex"),
    ("Sam", "sam"),
    ("Priya", "priya"),
    ("Omar", "omar"),
    ("Fatima", "fatima"),
    ("Ivan", "ivan"),
    ("Olga", "olga"),
    ("Yuki", "yuki"),
    ("Wei", "wei"),
    ("Raj", "raj"),
    ("Ana", "ana"),
    ("Li", "li"),
    ("Katie", "katie"),
    ("Daniel", "daniel"),
    ("Sofia", "sofia"),
    ("Lucas", "lucas"),
    ("Emma", "emma"),
    ("Noah", "noah"),
    ("Mia", "mia"),
    ("Ethan", "ethan"),
    ("Chloé", "chloe"),
    ("José", "jose"),
    ("Zoë", "zoe"),
    ("Hannah", "hannah"),
    ("Marcus", "marcus"),
    ("Aisha", "aisha"),
    ("Kenji", "kenji"),
    ("Ingrid", "ingrid"),
    ("Mateo", "mateo"),
    ("Leila", "leila"),
    ("Tomás", "tomas"),
    ("Grace", "grace"),
];

const LAST: &[(&str, &str)] = &[
    ("Smith", "smith"),
    ("Jones", "jones"),
    ("García", "garcia"),
    ("Chen", "chen"),
    ("Patel", "patel"),
    ("Nguyen", "nguyen"),
    ("Kim", "kim"),
    ("Müller", "muller"),
    ("Rossi", "rossi"),
    ("Silva", "silva"),
    ("Cohen", "cohen"),
    ("Ito", "ito"),
    ("Khan", "khan"),
    ("Brown", "brown"),
    ("López", "lopez"),
    ("Novak", "novak"),
    ("Berg", "berg"),
    ("Dubois", "dubois"),
    ("Ortiz", "ortiz"),
    ("Ward", "ward"),
    ("O'Brien", "obrien"),
    ("Andersson", "andersson"),
    ("Okafor", "okafor"),
    ("Kowalski", "kowalski"),
    ("Haddad", "haddad"),
    ("Schmidt", "schmidt"),
    ("Moreau", "moreau"),
    ("Yamamoto", "yamamoto"),
    ("Singh", "singh"),
    ("Murphy", "murphy"),
    ("Johansson", "johansson"),
    ("Costa", "costa"),
    ("Fischer", "fischer"),
    ("Reyes", "reyes"),
    ("Walker", "walker"),
    ("Sato", "sato"),
    ("Ivanova", "ivanova"),
    ("Mensah", "mensah"),
    ("Park", "park"),
    ("Fernández", "fernandez"),
];

/// A table shape: display name, SQL identifier, the business domains it plausibly belongs to
/// (display, schema identifier), its columns (name, tag or ""), and the roles of some columns.
struct TableTpl {
    display: &'static str,
    ident: &'static str,
    domains: &'static [(&'static str, &'static str)],
    cols: &'static [(&'static str, &'static str)],
    key: usize,
    date: usize,
    num: usize,
    cat: usize,
}

const FINANCE: (&str, &str) = ("Finance", "FINANCE");
const ACCOUNTING: (&str, &str) = ("Accounting", "ACCOUNTING");
const CLAIMS: (&str, &str) = ("Claims", "CLAIMS");
const HEALTHCARE: (&str, &str) = ("Healthcare", "HEALTHCARE");
const HR: (&str, &str) = ("HR", "HR");
const PEOPLE: (&str, &str) = ("People", "PEOPLE");
const SALES: (&str, &str) = ("Sales", "SALES");
const MARKETING: (&str, &str) = ("Marketing", "MARKETING");
const RISK: (&str, &str) = ("Risk", "RISK");
const OPERATIONS: (&str, &str) = ("Operations", "OPS");
const RETAIL: (&str, &str) = ("Retail", "RETAIL");
const SUPPLY: (&str, &str) = ("Supply Chain", "SUPPLY_CHAIN");
const CUSTOMER: (&str, &str) = ("Customer", "CUSTOMER");
const PRODUCT: (&str, &str) = ("Product", "PRODUCT");
const TRADING: (&str, &str) = ("Trading", "TRADING");
const SUPPORT: (&str, &str) = ("Support", "SUPPORT");
const INSURANCE: (&str, &str) = ("Insurance", "INSURANCE");

const PII: &str = "PII";
const PHI: &str = "PHI";
const CONF: &str = "Confidential";
const FIN: &str = "Financial";

const TABLES: &[TableTpl] = &[
    TableTpl {
        display: "Ledger",
        ident: "LEDGER",
        domains: &[FINANCE, ACCOUNTING],
        cols: &[
            ("ENTRY_ID", ""),
            ("ACCOUNT_ID", ""),
            ("POSTED_AT", ""),
            ("AMOUNT", FIN),
            ("CURRENCY", ""),
            ("COST_CENTER", ""),
        ],
        key: 1,
        date: 2,
        num: 3,
        cat: 5,
    },
    TableTpl {
        display: "Credit Transactions",
        ident: "CREDIT_TRANSACTIONS",
        domains: &[FINANCE, RISK, RETAIL],
        cols: &[
            ("TXN_ID", ""),
            ("CUSTOMER_ID", ""),
            ("CARD_NUMBER", "Discovered.Credit Card Number"),
            ("MERCHANT", ""),
            ("AMOUNT", FIN),
            ("TXN_TS", ""),
        ],
        key: 1,
        date: 5,
        num: 4,
        cat: 3,
    },
    TableTpl {
        display: "Healthcare Data",
        ident: "HEALTHCARE_DATA",
        domains: &[CLAIMS, HEALTHCARE],
        cols: &[
            ("RECORD_ID", ""),
            ("PATIENT_ID", PHI),
            ("DIAGNOSIS_CODE", PHI),
            ("PROVIDER_ID", ""),
            ("VISIT_DATE", ""),
            ("CHARGE_AMOUNT", FIN),
        ],
        key: 1,
        date: 4,
        num: 5,
        cat: 2,
    },
    TableTpl {
        display: "Medical Claims",
        ident: "MEDICAL_CLAIMS",
        domains: &[INSURANCE, HEALTHCARE],
        cols: &[
            ("CLAIM_ID", ""),
            ("PATIENT_ID", PHI),
            ("PROVIDER_ID", ""),
            ("PROCEDURE_CODE", PHI),
            ("CLAIM_AMOUNT", FIN),
            ("SERVICE_DATE", ""),
            ("STATUS", ""),
        ],
        key: 1,
        date: 5,
        num: 4,
        cat: 6,
    },
    TableTpl {
        display: "Patients",
        ident: "PATIENTS",
        domains: &[HEALTHCARE],
        cols: &[
            ("PATIENT_ID", PHI),
            ("FIRST_NAME", "Discovered.Person Name"),
            ("LAST_NAME", "Discovered.Person Name"),
            ("DATE_OF_BIRTH", "Discovered.Date of Birth"),
            ("SSN", "Discovered.US Social Security Number"),
            ("ZIP_CODE", PII),
            ("STATE", ""),
            ("RISK_SCORE", ""),
        ],
        key: 0,
        date: 3,
        num: 7,
        cat: 6,
    },
    TableTpl {
        display: "Customers",
        ident: "CUSTOMERS",
        domains: &[CUSTOMER, SALES, MARKETING, RETAIL],
        cols: &[
            ("CUSTOMER_ID", ""),
            ("FULL_NAME", "Discovered.Person Name"),
            ("EMAIL", "Discovered.Email Address"),
            ("PHONE", "Discovered.Phone Number"),
            ("COUNTRY", ""),
            ("SEGMENT", ""),
            ("LIFETIME_VALUE", FIN),
            ("CREATED_AT", ""),
        ],
        key: 0,
        date: 7,
        num: 6,
        cat: 5,
    },
    TableTpl {
        display: "Employees",
        ident: "EMPLOYEES",
        domains: &[HR, PEOPLE],
        cols: &[
            ("EMPLOYEE_ID", ""),
            ("FULL_NAME", "Discovered.Person Name"),
            ("DEPARTMENT", ""),
            ("SALARY", CONF),
            ("HIRE_DATE", ""),
            ("MANAGER_ID", ""),
            ("WORK_EMAIL", "Discovered.Email Address"),
        ],
        key: 0,
        date: 4,
        num: 3,
        cat: 2,
    },
    TableTpl {
        display: "Payroll",
        ident: "PAYROLL",
        domains: &[HR, FINANCE],
        cols: &[
            ("PAY_ID", ""),
            ("EMPLOYEE_ID", ""),
            ("PAY_DATE", ""),
            ("GROSS_PAY", CONF),
            ("NET_PAY", CONF),
            ("BANK_ACCOUNT", "Discovered.Bank Account Number"),
            ("PAY_GROUP", ""),
        ],
        key: 1,
        date: 2,
        num: 3,
        cat: 6,
    },
    TableTpl {
        display: "Orders",
        ident: "ORDERS",
        domains: &[SALES, RETAIL, CUSTOMER],
        cols: &[
            ("ORDER_ID", ""),
            ("CUSTOMER_ID", ""),
            ("ORDER_TS", ""),
            ("STATUS", ""),
            ("TOTAL_AMOUNT", FIN),
            ("SHIP_COUNTRY", ""),
            ("CHANNEL", ""),
        ],
        key: 1,
        date: 2,
        num: 4,
        cat: 3,
    },
    TableTpl {
        display: "Invoices",
        ident: "INVOICES",
        domains: &[FINANCE, ACCOUNTING, SALES],
        cols: &[
            ("INVOICE_ID", ""),
            ("ACCOUNT_ID", ""),
            ("ISSUED_AT", ""),
            ("DUE_DATE", ""),
            ("AMOUNT_DUE", FIN),
            ("STATUS", ""),
        ],
        key: 1,
        date: 2,
        num: 4,
        cat: 5,
    },
    TableTpl {
        display: "Payments",
        ident: "PAYMENTS",
        domains: &[FINANCE, RETAIL],
        cols: &[
            ("PAYMENT_ID", ""),
            ("CUSTOMER_ID", ""),
            ("PAID_AT", ""),
            ("AMOUNT", FIN),
            ("METHOD", ""),
            ("IBAN", "Discovered.Bank Account Number"),
        ],
        key: 1,
        date: 2,
        num: 3,
        cat: 4,
    },
    TableTpl {
        display: "Web Events",
        ident: "WEB_EVENTS",
        domains: &[MARKETING, PRODUCT],
        cols: &[
            ("EVENT_ID", ""),
            ("SESSION_ID", ""),
            ("CUSTOMER_ID", ""),
            ("URL", ""),
            ("EVENT_TS", ""),
            ("USER_AGENT", ""),
            ("IP_ADDRESS", "Discovered.IP Address"),
            ("DWELL_MS", ""),
        ],
        key: 2,
        date: 4,
        num: 7,
        cat: 3,
    },
    TableTpl {
        display: "Loans",
        ident: "LOANS",
        domains: &[FINANCE, RISK],
        cols: &[
            ("LOAN_ID", ""),
            ("CUSTOMER_ID", ""),
            ("ORIGINATED_AT", ""),
            ("PRINCIPAL", FIN),
            ("INTEREST_RATE", ""),
            ("GRADE", ""),
            ("STATUS", ""),
        ],
        key: 1,
        date: 2,
        num: 3,
        cat: 5,
    },
    TableTpl {
        display: "Trades",
        ident: "TRADES",
        domains: &[TRADING, RISK],
        cols: &[
            ("TRADE_ID", ""),
            ("ACCOUNT_ID", ""),
            ("SYMBOL", ""),
            ("QUANTITY", ""),
            ("PRICE", FIN),
            ("EXECUTED_AT", ""),
            ("DESK", ""),
        ],
        key: 1,
        date: 5,
        num: 4,
        cat: 2,
    },
    TableTpl {
        display: "Positions",
        ident: "POSITIONS",
        domains: &[TRADING, RISK],
        cols: &[
            ("POSITION_ID", ""),
            ("ACCOUNT_ID", ""),
            ("SYMBOL", ""),
            ("MARKET_VALUE", FIN),
            ("AS_OF_DATE", ""),
            ("BOOK", ""),
        ],
        key: 1,
        date: 4,
        num: 3,
        cat: 2,
    },
    TableTpl {
        display: "Shipments",
        ident: "SHIPMENTS",
        domains: &[SUPPLY, OPERATIONS],
        cols: &[
            ("SHIPMENT_ID", ""),
            ("ORDER_ID", ""),
            ("WAREHOUSE", ""),
            ("CARRIER", ""),
            ("SHIPPED_AT", ""),
            ("WEIGHT_KG", ""),
            ("DEST_COUNTRY", ""),
        ],
        key: 1,
        date: 4,
        num: 5,
        cat: 3,
    },
    TableTpl {
        display: "Inventory",
        ident: "INVENTORY",
        domains: &[SUPPLY, OPERATIONS, RETAIL],
        cols: &[
            ("SKU", ""),
            ("WAREHOUSE", ""),
            ("ON_HAND", ""),
            ("REORDER_POINT", ""),
            ("UPDATED_AT", ""),
            ("CATEGORY", ""),
        ],
        key: 0,
        date: 4,
        num: 2,
        cat: 5,
    },
    TableTpl {
        display: "Support Tickets",
        ident: "SUPPORT_TICKETS",
        domains: &[SUPPORT, CUSTOMER],
        cols: &[
            ("TICKET_ID", ""),
            ("CUSTOMER_ID", ""),
            ("OPENED_AT", ""),
            ("PRIORITY", ""),
            ("CATEGORY", ""),
            ("DESCRIPTION", PII),
            ("RESOLUTION_HOURS", ""),
        ],
        key: 1,
        date: 2,
        num: 6,
        cat: 3,
    },
    TableTpl {
        display: "Campaign Responses",
        ident: "CAMPAIGN_RESPONSES",
        domains: &[MARKETING],
        cols: &[
            ("RESPONSE_ID", ""),
            ("CUSTOMER_ID", ""),
            ("CAMPAIGN_ID", ""),
            ("CHANNEL", ""),
            ("RESPONDED_AT", ""),
            ("REVENUE", FIN),
        ],
        key: 1,
        date: 4,
        num: 5,
        cat: 3,
    },
    TableTpl {
        display: "Churn Scores",
        ident: "CHURN_SCORES",
        domains: &[CUSTOMER, MARKETING, PRODUCT],
        cols: &[
            ("CUSTOMER_ID", ""),
            ("SCORE_DATE", ""),
            ("CHURN_PROBABILITY", ""),
            ("MODEL_VERSION", ""),
            ("SEGMENT", ""),
        ],
        key: 0,
        date: 1,
        num: 2,
        cat: 4,
    },
    TableTpl {
        display: "Census Income",
        ident: "CENSUS_INCOME",
        domains: &[MARKETING, RISK],
        cols: &[
            ("RESPONDENT_ID", ""),
            ("AGE", ""),
            ("EDUCATION", ""),
            ("OCCUPATION", ""),
            ("INCOME", CONF),
            ("RACE", "Sensitive"),
            ("SEX", "Sensitive"),
            ("SURVEY_DATE", ""),
        ],
        key: 0,
        date: 7,
        num: 4,
        cat: 2,
    },
    TableTpl {
        display: "Providers",
        ident: "PROVIDERS",
        domains: &[HEALTHCARE, CLAIMS],
        cols: &[
            ("PROVIDER_ID", ""),
            ("NPI", ""),
            ("PROVIDER_NAME", ""),
            ("SPECIALTY", ""),
            ("STATE", ""),
            ("ENROLLED_AT", ""),
            ("PANEL_SIZE", ""),
        ],
        key: 0,
        date: 5,
        num: 6,
        cat: 3,
    },
    TableTpl {
        display: "Accounts Receivable",
        ident: "ACCOUNTS_RECEIVABLE",
        domains: &[ACCOUNTING, FINANCE],
        cols: &[
            ("AR_ID", ""),
            ("ACCOUNT_ID", ""),
            ("INVOICE_DATE", ""),
            ("BALANCE", FIN),
            ("AGING_BUCKET", ""),
        ],
        key: 1,
        date: 2,
        num: 3,
        cat: 4,
    },
    TableTpl {
        display: "Benefits Enrollment",
        ident: "BENEFITS_ENROLLMENT",
        domains: &[HR, PEOPLE],
        cols: &[
            ("ENROLLMENT_ID", ""),
            ("EMPLOYEE_ID", ""),
            ("PLAN_NAME", ""),
            ("DEPENDENTS", ""),
            ("ENROLLED_AT", ""),
            ("MONTHLY_PREMIUM", FIN),
            ("HEALTH_CONDITIONS", PHI),
        ],
        key: 1,
        date: 4,
        num: 5,
        cat: 2,
    },
];

/// Name variants that keep data source names unique: (display suffix, identifier suffix).
const DS_VARIANTS: &[(&str, &str)] = &[
    ("", ""),
    ("", ""),
    ("", ""),
    (" 2024", "_2024"),
    (" 2025", "_2025"),
    (" EU", "_EU"),
    (" US", "_US"),
    (" Archive", "_ARCHIVE"),
    (" Staging", "_STG"),
    (" v2", "_V2"),
];

const PURPOSES: &[&str] = &[
    "Fraud Prevention",
    "Regulatory Reporting",
    "Research",
    "Research.Clinical Trials",
    "Marketing Analytics",
    "Product Improvement",
    "Customer Support",
    "Risk Modeling",
    "Financial Planning",
    "HR Analytics",
    "Model Training",
    "Audit & Compliance",
    "Security Investigations",
    "Billing Operations",
    "Data Quality",
];

const PROJECT_NAMES: &[&str] = &[
    "Churn Prediction 2026",
    "Q3 Revenue Forecast",
    "Fraud Detection Model",
    "Claims Cost Analysis",
    "Marketing Attribution",
    "Clinical Outcomes Study",
    "Credit Risk Scorecard",
    "Workforce Planning",
    "Supply Chain Resilience",
    "Customer 360",
    "SOX Controls Testing",
    "Pricing Elasticity",
    "Readmission Risk",
    "AML Transaction Monitoring",
    "Support Ticket Triage",
    "Inventory Optimization",
    "Executive KPI Dashboard",
    "Loan Default Study",
    "Campaign Uplift Test",
    "Provider Network Review",
    "Pay Equity Review",
    "Trade Surveillance",
    "Web Funnel Analysis",
    "Data Quality Baseline",
    "GDPR Access Requests",
];

const GROUPS: &[&str] = &[
    "Finance Analysts",
    "Data Science",
    "HR Partners",
    "Claims Adjusters",
    "Marketing Ops",
    "Engineering",
    "Executives",
    "Auditors",
    "Data Stewards",
    "Contractors",
    "EU Staff",
    "US Staff",
    "Risk Team",
    "Sales Ops",
    "Support Agents",
    "BI Developers",
    "Clinical Research",
    "Trading Desk",
];

const TAGS: &[&str] = &[
    "PII",
    "PHI",
    "Confidential",
    "Internal",
    "Public",
    "Financial",
    "Sensitive",
    "GDPR",
    "HIPAA",
    "SOX",
    "Certified",
    "Deprecated",
    "Discovered.Email Address",
    "Discovered.Person Name",
    "Discovered.US Social Security Number",
    "Discovered.Credit Card Number",
    "Discovered.Date of Birth",
    "Discovered.Phone Number",
    "Discovered.IP Address",
    "Discovered.Bank Account Number",
];

/// (name, policy type)
const GLOBAL_POLICIES: &[(&str, &str)] = &[
    ("Mask PII except for HR", "masking"),
    ("Restrict EU rows to EU Staff", "rowRestriction"),
    ("Hash email addresses", "masking"),
    ("Redact social security numbers", "masking"),
    ("Minimize data for Contractors", "rowRestriction"),
    ("Subscribe by Department attribute", "subscription"),
    ("Mask PHI outside Clinical Research", "masking"),
    ("Null credit card numbers", "masking"),
    ("Row filter by Region", "rowRestriction"),
    ("Only last 90 days for analysts", "rowRestriction"),
    ("Allow Finance Analysts to Financial data", "subscription"),
    ("Round salaries to nearest 10k", "masking"),
    ("Differential privacy on Census Income", "masking"),
    ("Certified data sources open to all", "subscription"),
];

const DOMAINS: &[&str] = &[
    "Finance",
    "Healthcare",
    "Sales & Marketing",
    "People",
    "Risk",
    "Operations",
    "Customer",
];

const FRAMEWORKS: &[&str] = &[
    "Immuta Data Security Framework",
    "GDPR Framework",
    "HIPAA Framework",
    "PCI DSS Framework",
    "Finance Custom Framework",
];

/// (name, config member, value): the three kinds of SDD identifier.
const CLASSIFIERS: &[(&str, &str, &str)] = &[
    ("EMAIL_ADDRESS", "regex", r"^[\w.+-]+@[\w-]+\.[\w.-]+$"),
    ("US_SSN", "regex", r"^\d{3}-\d{2}-\d{4}$"),
    (
        "ICD10_CODE",
        "regex",
        r"^[A-TV-Z][0-9][0-9AB](\.[0-9A-KXZ]{1,4})?$",
    ),
    (
        "CREDIT_CARD_COLUMN",
        "columnNameRegex",
        r"(?i)(card|cc)_?(num|number)",
    ),
    ("DOB_COLUMN", "columnNameRegex", r"(?i)(dob|birth_?date)"),
    (
        "SALARY_COLUMN",
        "columnNameRegex",
        r"(?i)(salary|gross_pay|net_pay)",
    ),
    (
        "US_STATE",
        "values",
        "Alabama|Alaska|Arizona|California|New York|Texas",
    ),
    ("DEPARTMENT_CODE", "values", "FIN|HR|ENG|OPS|MKT|LEGAL"),
];

const PERMISSIONS: &[&str] = &[
    "AUDIT",
    "GOVERNANCE",
    "CREATE_DATA_SOURCE",
    "CREATE_PROJECT",
    "USER_ADMIN",
    "APPLICATION_ADMIN",
    "CREATE_FILTER",
    "FETCH_POLICY_INFO",
];

/// (attribute, values separated by '|')
const ATTRIBUTES: &[(&str, &str)] = &[
    (
        "Department",
        "Finance|HR|Engineering|Marketing|Sales|Legal|Clinical",
    ),
    ("Region", "US|EU|APAC"),
    ("Clearance", "Internal|Confidential|Restricted"),
    ("Role", "Analyst|Manager|Contractor|Data Steward"),
];

const API_KEY_NAMES: &[&str] = &[
    "dbt-prod",
    "airflow",
    "ci-pipeline",
    "notebook",
    "tableau-sync",
    "terraform",
    "T1",
    "my key",
];

const CONFIG_PATHS: &[&str] = &[
    "sdd.enabled",
    "auth.sessionTimeoutMinutes",
    "integrations.snowflake.auditFrequencyHours",
    "integrations.databricks.workspaceUrl",
    "audit.retentionDays",
    "email.smtpHost",
    "attributes.externalIamSync",
];

const CATALOGS: &[&str] = &[
    "Alation",
    "Collibra",
    "Snowflake Tags",
    "Unity Catalog Tags",
];

const WEBHOOK_URLS: &[&str] = &[
    "https://hooks.example.com/immuta/audit",
    "https://ops.example.com/alerts/immuta",
    "https://jira.example.com/rest/webhooks/immuta",
];

/// Application events per 10,000, by UAM name; a catalogue event missing here gets
/// [`DEFAULT_APP_WEIGHT`]. The smallest weights still give ~25 events per 250,000.
const APP_WEIGHTS: &[(&str, u32)] = &[
    ("UserAuthenticated", 2600),
    ("UserLogout", 1200),
    ("AuditQuery", 250),
    ("ApiKeyCreated", 40),
    ("ApiKeyDeleted", 25),
    ("SubscriptionRequested", 500),
    ("SubscriptionRequestApproved", 380),
    ("SubscriptionRequestDenied", 60),
    ("SubscriptionCreated", 450),
    ("SubscriptionUpdated", 120),
    ("SubscriptionDeleted", 90),
    ("UserCreated", 60),
    ("UserCloned", 10),
    ("UserDeleted", 15),
    ("UserUpdated", 80),
    ("UserPasswordUpdated", 20),
    ("UserOneTimeTokenCreated", 10),
    ("AttributeApplied", 260),
    ("AttributeRemoved", 90),
    ("PermissionApplied", 50),
    ("PermissionRemoved", 20),
    ("GroupCreated", 25),
    ("GroupDeleted", 8),
    ("GroupUpdated", 30),
    ("GroupMemberAdded", 300),
    ("GroupMemberRemoved", 110),
    ("DatasourceCreated", 90),
    ("DatasourceUpdated", 420),
    ("DatasourceDeleted", 20),
    ("DatasourceDisabled", 12),
    ("DatasourceCatalogSynced", 350),
    ("SDDDatasourceTagUpdated", 300),
    ("DatasourceAppliedToProject", 110),
    ("DatasourceRemovedFromProject", 30),
    ("DatasourceGlobalPolicyApplied", 400),
    ("DatasourceGlobalPolicyConflictResolved", 15),
    ("DatasourceGlobalPolicyDisabled", 20),
    ("DatasourceGlobalPolicyRemoved", 40),
    ("DatasourcePolicyCertified", 70),
    ("DatasourcePolicyDecertified", 12),
    ("DatasourcePolicyCertificationExpired", 25),
    ("LocalPolicyCreated", 40),
    ("LocalPolicyUpdated", 90),
    ("GlobalPolicyCreated", 25),
    ("GlobalPolicyUpdated", 70),
    ("GlobalPolicyDeleted", 8),
    ("GlobalPolicyReviewRequested", 20),
    ("GlobalPolicyChangeRequested", 10),
    ("GlobalPolicyApproved", 18),
    ("GlobalPolicyApprovalRescinded", 5),
    ("GlobalPolicyPromoted", 15),
    ("ProjectCreated", 12),
    ("ProjectUpdated", 60),
    ("ProjectDeleted", 5),
    ("ProjectDisabled", 5),
    ("ProjectPurposeApproved", 20),
    ("ProjectPurposeDenied", 6),
    ("ProjectPurposesAcknowledged", 120),
    ("PolicyAdjustmentCreated", 10),
    ("PolicyAdjustmentDeleted", 6),
    ("PurposeUpserted", 8),
    ("PurposeUpdated", 15),
    ("PurposeDeleted", 5),
    ("TagApplied", 380),
    ("TagRemoved", 90),
    ("TagCreated", 25),
    ("TagUpdated", 12),
    ("TagDeleted", 6),
    ("DomainCreated", 6),
    ("DomainUpdated", 15),
    ("DomainDeleted", 5),
    ("DomainDataSourcesUpdated", 60),
    ("DomainPermissionsUpdated", 30),
    ("SDDClassifierCreated", 10),
    ("SDDClassifierUpdated", 15),
    ("SDDClassifierDeleted", 5),
    ("SDDTemplateCreated", 6),
    ("SDDTemplateCloned", 5),
    ("SDDTemplateUpdated", 10),
    ("SDDTemplateDeleted", 5),
    ("SDDTemplateApplied", 20),
    ("ConfigurationUpdated", 15),
    ("LicenseCreated", 5),
    ("LicenseDeleted", 5),
    ("WebhookCreated", 8),
    ("WebhookDeleted", 6),
];
const DEFAULT_APP_WEIGHT: u32 = 10;

const QUERY_EVENTS: [&str; 3] = ["SnowflakeQuery", "DatabricksQuery", "TrinoQuery"];

/// Legacy-only record types: (record type, weight per 1,000, traits).
const LEGACY_TYPES: &[(&str, u32, u8)] = &[
    ("sqlQuery", 380, L_DS | L_PROJ_OPT | L_QUERY),
    ("auditQuery", 90, L_AUDIT),
    ("blobFetch", 80, L_DS | L_BLOB),
    ("handleTask", 70, L_SYSTEM),
    ("switchCurrentProject", 60, L_PROJ),
    ("checkPendingRequest", 50, L_SYSTEM | L_DS),
    ("dataSourceTestQuery", 45, L_DS),
    ("queryDebugRequest", 40, L_DS | L_PROJ_OPT),
    ("sqlAccess", 35, L_DS),
    ("blobIndex", 25, L_DS | L_BLOB),
    ("sqlCreateUser", 15, 0),
    ("sqlResetPassword", 12, 0),
    ("policyExport", 12, L_GOV),
    ("policyImport", 8, L_GOV),
    ("dictionaryCreate", 10, L_GOV),
    ("dictionaryUpdate", 8, L_GOV),
    ("dictionaryDelete", 4, L_GOV),
    ("driverUpload", 4, L_GOV),
    ("dataSourceExpired", 10, L_SYSTEM | L_DS),
    ("policyExemption", 10, L_DS),
    ("featureList", 6, 0),
    ("governanceUpdate", 6, L_GOV),
    ("blobUpdateTags", 5, L_DS | L_BLOB),
    ("blobVisibility", 4, L_DS | L_BLOB),
    ("blobDelete", 4, L_DS | L_BLOB),
    ("blobUpdateFeatures", 3, L_DS | L_BLOB),
    ("sqlDeleteUser", 5, 0),
    ("taskDelete", 5, L_SYSTEM),
];
const L_DS: u8 = 1;
const L_PROJ: u8 = 2;
const L_PROJ_OPT: u8 = 4;
const L_BLOB: u8 = 8;
const L_SYSTEM: u8 = 16;
const L_QUERY: u8 = 32;
const L_AUDIT: u8 = 64;
const L_GOV: u8 = 128;

/// Legacy outcomes with failure reasons.
const OUTCOME_REASONS: &[(&str, &[&str])] = &[
    ("success", &[]),
    (
        "userError",
        &[
            "SQL compilation error: invalid identifier",
            "Table or view not found",
            "Syntax error at or near \"FROM\"",
            "Invalid purpose for project",
        ],
    ),
    (
        "systemError",
        &[
            "Connection reset by peer",
            "Remote warehouse timeout after 300s",
            "Internal error: unexpected null in policy cache",
        ],
    ),
    (
        "insufficientAuthorizations",
        &[
            "User lacks required attribute Department=Finance",
            "Missing group membership for data source",
        ],
    ),
    ("failure", &["Query cancelled", "Policy evaluation failed"]),
    (
        "insufficientPermissions",
        &[
            "User lacks AUDIT permission",
            "User lacks GOVERNANCE permission",
        ],
    ),
];

const QUERY_FAILURES: [&[&str]; 3] = [
    &[
        "SQL compilation error: error line 1 at position 7 invalid identifier 'REVENUE'",
        "Statement reached its statement or warehouse timeout of 3,600 second(s) and was canceled.",
        "Warehouse 'ANALYTICS_WH' cannot be resumed because resource monitor 'MONTHLY_LIMIT' has exceeded its quota.",
    ],
    &[
        "[TABLE_OR_VIEW_NOT_FOUND] The table or view cannot be found.",
        "[PARSE_SYNTAX_ERROR] Syntax error at or near 'FROM'.",
        "Cluster terminated: spot instance preempted",
    ],
    &[
        "line 1:8: Column 'revenue' cannot be resolved",
        "Query exceeded per-node memory limit of 8GB",
        "Query was canceled by user",
    ],
];

const QUERY_DENIALS: [&[&str]; 3] = [
    &[
        "Insufficient privileges to operate on table",
        "Immuta: user is not subscribed to the data source",
    ],
    &[
        "PERMISSION_DENIED: User does not have SELECT on Table",
        "Immuta: access denied by policy 'Restrict EU rows to EU Staff'",
    ],
    &[
        "Access Denied: Cannot select from columns",
        "Immuta: user is not subscribed to the data source",
    ],
];

// ---------------------------------------------------------------------------------------------
// The cast
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tech {
    Snowflake,
    Databricks,
    Trino,
}

impl Tech {
    fn idx(self) -> usize {
        self as usize
    }
    fn upper(self) -> &'static str {
        match self {
            Tech::Snowflake => "SNOWFLAKE",
            Tech::Databricks => "DATABRICKS",
            Tech::Trino => "TRINO",
        }
    }
}

struct User {
    profile_id: i64,
    email: String,
    /// `"actor":{...}` and, for people, `,"actorIp":"..."`.
    actor: String,
    /// `{"type":"USER",...}`
    target: String,
    auth: &'static str,
    /// Warehouse user names per technology, JSON-quoted.
    engine_user: [String; 3],
    fav_ds: Vec<usize>,
    projects: Vec<usize>,
}

struct DataSource {
    id: i64,
    /// JSON-quoted display name.
    name_json: String,
    tech: Tech,
    /// Table path in the warehouse's own case (`ANALYTICS.FINANCE.LEDGER`, `main.finance.ledger`).
    path: String,
    tpl: usize,
    owner: usize,
    /// `{"type":"DATASOURCE",...}`
    target: String,
    /// `{"name":path,"datasource":{...},"type":"TABLE"}`
    object: String,
    /// Column names in the warehouse's case.
    cols: Vec<String>,
    /// One `columnsAccessed` entry per column: `{"name":"PATH.COL","tags":[...]}`.
    col_json: Vec<String>,
    /// Tables of the same warehouse it can join with, most popular first:
    /// (data source, its join column, the partner's join column).
    partners: Vec<(usize, usize, usize)>,
}

struct Project {
    id: i64,
    name_json: String,
    target: String,
    purposes: Vec<usize>,
    /// `[3,7]`
    purpose_ids_json: String,
    owner: usize,
    members: Vec<usize>,
    ds: Vec<usize>,
}

/// Anything else with an id and a name that events target.
struct Thing {
    id: String,
    target: String,
}

struct Model {
    seed: u64,
    start_ms: i64,
    end_ms: i64,
    hour_cum: Vec<f64>,
    users: Vec<User>,
    user_rank: Vec<usize>,
    user_cum: Vec<f64>,
    governors: Vec<usize>,
    auditors: Vec<usize>,
    ds: Vec<DataSource>,
    ds_rank: Vec<usize>,
    ds_cum: Vec<f64>,
    projects: Vec<Project>,
    proj_rank: Vec<usize>,
    proj_cum: Vec<f64>,
    purposes: Vec<Thing>,
    groups: Vec<Thing>,
    tags: Vec<Thing>,
    policies: Vec<Thing>,
    domains: Vec<Thing>,
    frameworks: Vec<Thing>,
    classifiers: Vec<Thing>,
    app_kinds: Vec<&'static str>,
    app_cum: Vec<f64>,
    legacy_cum: Vec<f64>,
}

const SYSTEM: usize = 0;
const N_USERS: usize = 300;
const N_DS: usize = 120;
const N_GOVERNORS: usize = 8;
const N_OWNERS: usize = 40;

impl Model {
    fn new(seed: u64, end_ms: i64) -> Model {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x7472_6169_6c63_6173);
        let start_ms = end_ms - 365 * DAY_MS;

        // users: index 0 is the system account (profileId 1), then profileIds 2..=301.
        let mut users = vec![User {
            profile_id: 1,
            email: String::new(),
            actor: r#""actor":{"type":"USER_ACTOR","id":"immuta_system_account","name":"Immuta System Account","identityProvider":"bim","profileId":"1"}"#.into(),
            target: r#"{"type":"USER","id":"immuta_system_account","name":"Immuta System Account","profileId":"1"}"#.into(),
            auth: "password",
            engine_user: Default::default(),
            fav_ds: Vec::new(),
            projects: Vec::new(),
        }];
        let mut combos: Vec<(usize, usize)> = (0..FIRST.len())
            .flat_map(|f| (0..LAST.len()).map(move |l| (f, l)))
            .collect();
        combos.shuffle(&mut rng);
        for (k, &(f, l)) in combos.iter().take(N_USERS).enumerate() {
            let profile_id = k as i64 + 2;
            let name = format!("{} {}", FIRST[f].0, LAST[l].0);
            let email = format!("{}.{}@example.com", FIRST[f].1, LAST[l].1);
            let ip = format!(
                "10.{}.{}.{}",
                rng.gen_range(10..40),
                rng.gen_range(0..256),
                rng.gen_range(2..255)
            );
            let mut actor = String::with_capacity(160);
            actor.push_str(r#""actor":{"type":"USER_ACTOR","id":"#);
            push_json_str(&mut actor, &email);
            actor.push_str(r#","name":"#);
            push_json_str(&mut actor, &name);
            let _ = write!(
                actor,
                r#","identityProvider":"bim","profileId":"{profile_id}"}},"actorIp":"{ip}""#
            );
            let mut target = String::with_capacity(120);
            target.push_str(r#"{"type":"USER","id":"#);
            push_json_str(&mut target, &email);
            target.push_str(r#","name":"#);
            push_json_str(&mut target, &name);
            let _ = write!(target, r#","profileId":"{profile_id}"}}"#);
            let x: f64 = rng.gen();
            let auth = if x < 0.55 {
                "SAML"
            } else if x < 0.75 {
                "OAuth"
            } else if x < 0.85 {
                "OpenId"
            } else if x < 0.95 {
                "password"
            } else {
                "apiKey"
            };
            let mut sf = String::new();
            push_json_str(&mut sf, &email.to_ascii_uppercase());
            let mut db = String::new();
            push_json_str(&mut db, &email);
            let mut tr = String::new();
            push_json_str(&mut tr, email.split('@').next().unwrap_or(&email));
            users.push(User {
                profile_id,
                email,
                actor,
                target,
                auth,
                engine_user: [sf, db, tr],
                fav_ds: Vec::new(),
                projects: Vec::new(),
            });
        }
        let mut user_rank: Vec<usize> = (1..users.len()).collect();
        user_rank.shuffle(&mut rng);
        let user_cum = zipf_cum(user_rank.len(), 0.9);
        let mut roles: Vec<usize> = (1..users.len()).collect();
        roles.shuffle(&mut rng);
        let governors: Vec<usize> = roles[..N_GOVERNORS].to_vec();
        let owners: Vec<usize> = roles[N_GOVERNORS..N_GOVERNORS + N_OWNERS].to_vec();
        let mut auditors: Vec<usize> = governors[..3].to_vec();
        auditors.extend_from_slice(&roles[N_GOVERNORS + N_OWNERS..N_GOVERNORS + N_OWNERS + 4]);

        // data sources
        let mut ds: Vec<DataSource> = Vec::with_capacity(N_DS);
        let mut names = HashSet::new();
        let mut next_id = 1i64;
        while ds.len() < N_DS {
            let tpl = rng.gen_range(0..TABLES.len());
            let t = &TABLES[tpl];
            let (dom, dom_ident) = t.domains[rng.gen_range(0..t.domains.len())];
            let (suffix, ident_suffix) = DS_VARIANTS[rng.gen_range(0..DS_VARIANTS.len())];
            let mut name = if t.display.starts_with(dom) {
                format!("{}{suffix}", t.display)
            } else {
                format!("{dom} {}{suffix}", t.display)
            };
            if !names.insert(name.clone()) {
                continue;
            }
            if rng.gen_bool(0.05) {
                name.push_str(" (deleted)");
            }
            let x: f64 = rng.gen();
            let tech = if x < 0.5 {
                Tech::Snowflake
            } else if x < 0.8 {
                Tech::Databricks
            } else {
                Tech::Trino
            };
            let path = match tech {
                Tech::Snowflake => {
                    let db = ["ANALYTICS", "PROD", "CURATED", "RAW"][rng.gen_range(0..4)];
                    format!("{db}.{dom_ident}.{}{ident_suffix}", t.ident)
                }
                Tech::Databricks => {
                    let cat = ["main", "prod", "hive_metastore"][rng.gen_range(0..3)];
                    format!("{cat}.{dom_ident}.{}{ident_suffix}", t.ident).to_ascii_lowercase()
                }
                Tech::Trino => {
                    let cat = ["hive", "iceberg", "postgresql"][rng.gen_range(0..3)];
                    format!("{cat}.{dom_ident}.{}{ident_suffix}", t.ident).to_ascii_lowercase()
                }
            };
            let id = next_id;
            next_id += 1 + if rng.gen_bool(0.2) {
                rng.gen_range(1..4)
            } else {
                0
            };
            let mut name_json = String::new();
            push_json_str(&mut name_json, &name);
            let target = format!(
                r#"{{"type":"DATASOURCE","id":"{id}","name":{name_json},"technology":"{}"}}"#,
                tech.upper()
            );
            let mut object = String::new();
            object.push_str(r#"{"name":"#);
            push_json_str(&mut object, &path);
            let _ = write!(
                object,
                r#","datasource":{{"id":"{id}","name":{name_json}}},"type":"TABLE"}}"#
            );
            let cols: Vec<String> = t
                .cols
                .iter()
                .map(|(c, _)| match tech {
                    Tech::Snowflake => c.to_string(),
                    _ => c.to_ascii_lowercase(),
                })
                .collect();
            let col_json = cols
                .iter()
                .zip(t.cols)
                .map(|(c, (_, tag))| {
                    let mut j = String::from(r#"{"name":"#);
                    push_json_str(&mut j, &format!("{path}.{c}"));
                    j.push_str(r#","tags":["#);
                    if !tag.is_empty() {
                        push_json_str(&mut j, tag);
                    }
                    j.push_str("]}");
                    j
                })
                .collect();
            ds.push(DataSource {
                id,
                name_json,
                tech,
                path,
                tpl,
                owner: owners[rng.gen_range(0..owners.len())],
                target,
                object,
                cols,
                col_json,
                partners: Vec::new(),
            });
        }
        let mut ds_rank: Vec<usize> = (0..ds.len()).collect();
        ds_rank.shuffle(&mut rng);
        let ds_cum = zipf_cum(ds_rank.len(), 0.95);
        for d in 0..ds.len() {
            let mine = TABLES[ds[d].tpl].cols;
            let mut partners = Vec::new();
            for &p in &ds_rank {
                if p == d || ds[p].tech != ds[d].tech {
                    continue;
                }
                let theirs = TABLES[ds[p].tpl].cols;
                let shared = mine.iter().enumerate().find_map(|(i, (c, _))| {
                    let joinable = c.ends_with("_ID") || *c == "SKU";
                    let j = theirs.iter().position(|(o, _)| o == c);
                    j.filter(|_| joinable).map(|j| (i, j))
                });
                if let Some((i, j)) = shared {
                    partners.push((p, i, j));
                }
            }
            ds[d].partners = partners;
        }

        // purposes and projects
        let mut purposes = Vec::new();
        let mut pid = 1i64;
        for name in PURPOSES {
            purposes.push(thing("PURPOSE", pid.to_string(), name));
            pid += 1 + i64::from(rng.gen_bool(0.25));
        }
        let mut projects = Vec::new();
        let mut proj_id = 1i64;
        for name in PROJECT_NAMES {
            let k = [1, 1, 2, 2, 3][rng.gen_range(0..5)];
            let mut ps: Vec<usize> = (0..purposes.len()).collect();
            ps.shuffle(&mut rng);
            ps.truncate(k);
            ps.sort_unstable();
            let purpose_ids_json = format!(
                "[{}]",
                ps.iter()
                    .map(|&p| purposes[p].id.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let mut name_json = String::new();
            push_json_str(&mut name_json, name);
            let owner = user_rank[rng.gen_range(0..user_rank.len())];
            let n_ds = rng.gen_range(2..9);
            let pds: Vec<usize> = (0..n_ds)
                .map(|_| ds_rank[pick_cum(&ds_cum, rng.gen())])
                .collect();
            projects.push(Project {
                id: proj_id,
                target: format!(r#"{{"type":"PROJECT","id":"{proj_id}","name":{name_json}}}"#),
                name_json,
                purposes: ps,
                purpose_ids_json,
                owner,
                members: vec![owner],
                ds: pds,
            });
            proj_id += 1 + if rng.gen_bool(0.3) {
                rng.gen_range(1..5)
            } else {
                0
            };
        }
        let mut proj_rank: Vec<usize> = (0..projects.len()).collect();
        proj_rank.shuffle(&mut rng);
        let proj_cum = zipf_cum(proj_rank.len(), 1.0);
        for (p, proj) in projects.iter().enumerate() {
            users[proj.owner].projects.push(p);
        }

        // per-user habits: favourite data sources (biased to one engine) and project membership
        for &u in &user_rank {
            let pref = match rng.gen_range(0..10) {
                0..=4 => Tech::Snowflake,
                5..=7 => Tech::Databricks,
                _ => Tech::Trino,
            };
            let k = rng.gen_range(3..16);
            let mut fav = Vec::with_capacity(k);
            for _ in 0..k {
                let mut d = ds_rank[pick_cum(&ds_cum, rng.gen())];
                for _ in 0..3 {
                    if ds[d].tech == pref || rng.gen_bool(0.3) {
                        break;
                    }
                    d = ds_rank[pick_cum(&ds_cum, rng.gen())];
                }
                fav.push(d);
            }
            users[u].fav_ds = fav;
            if rng.gen_bool(0.55) {
                for _ in 0..rng.gen_range(1..4) {
                    let p = proj_rank[pick_cum(&proj_cum, rng.gen())];
                    if !users[u].projects.contains(&p) {
                        users[u].projects.push(p);
                        projects[p].members.push(u);
                    }
                }
            }
        }

        let groups = (0..GROUPS.len())
            .map(|i| thing("GROUP", (i * 3 + 4).to_string(), GROUPS[i]))
            .collect();
        let tags = (0..TAGS.len())
            .map(|i| thing("TAG", (i + 11).to_string(), TAGS[i]))
            .collect();
        let policies = (0..GLOBAL_POLICIES.len())
            .map(|i| thing("POLICY", (i * 2 + 101).to_string(), GLOBAL_POLICIES[i].0))
            .collect();
        let domains = DOMAINS
            .iter()
            .map(|name| {
                let mut id = String::new();
                push_uuid_raw(&mut id, &mut rng);
                thing("DOMAIN", id, name)
            })
            .collect();
        let frameworks = (0..FRAMEWORKS.len())
            .map(|i| {
                thing(
                    "IDENTIFICATION_FRAMEWORK",
                    (i + 1).to_string(),
                    FRAMEWORKS[i],
                )
            })
            .collect();
        let classifiers = (0..CLASSIFIERS.len())
            .map(|i| thing("CLASSIFIER", (i + 31).to_string(), CLASSIFIERS[i].0))
            .collect();

        // time: hour-of-year intensity (weekday business hours, quiet holidays, growing usage)
        let hours = 365 * 24;
        let mut hour_cum = Vec::with_capacity(hours);
        let mut acc = 0.0;
        for h in 0..hours {
            let abs_hour = (start_ms + h as i64 * HOUR_MS).div_euclid(HOUR_MS);
            let hod = abs_hour.rem_euclid(24) as f64;
            let day = abs_hour.div_euclid(24);
            let dow = (day + 3).rem_euclid(7); // 1970-01-01 was a Thursday; 0 = Monday
            let week = match dow {
                5 => 0.16,
                6 => 0.12,
                _ => 1.0,
            };
            let (_, month, dom) = civil_from_days(day);
            let holiday = if (month == 12 && dom >= 24) || (month == 1 && dom == 1) {
                0.3
            } else {
                1.0
            };
            // Americas peak around 15h UTC, Europe around 10h UTC
            let diurnal = 0.05
                + (-(hod - 15.5).powi(2) / (2.0 * 3.0f64.powi(2))).exp()
                + 0.55 * (-(hod - 10.0).powi(2) / (2.0 * 2.0f64.powi(2))).exp();
            let growth = 0.75 + 0.5 * h as f64 / hours as f64;
            acc += week * holiday * diurnal * growth;
            hour_cum.push(acc);
        }
        for c in &mut hour_cum {
            *c /= acc;
        }
        if let Some(last) = hour_cum.last_mut() {
            *last = 1.0;
        }

        // application events: every catalogue event but the query events
        let mut app_kinds = Vec::new();
        let mut weights = Vec::new();
        for e in CATALOG {
            if QUERY_EVENTS.contains(&e.name) {
                continue;
            }
            let w = APP_WEIGHTS
                .iter()
                .find(|(n, _)| *n == e.name)
                .map_or(DEFAULT_APP_WEIGHT, |&(_, w)| w);
            app_kinds.push(e.name);
            weights.push(f64::from(w));
        }
        let app_cum = cumulative(&weights);
        let legacy_cum = cumulative(
            &LEGACY_TYPES
                .iter()
                .map(|&(_, w, _)| f64::from(w))
                .collect::<Vec<_>>(),
        );

        Model {
            seed,
            start_ms,
            end_ms,
            hour_cum,
            users,
            user_rank,
            user_cum,
            governors,
            auditors,
            ds,
            ds_rank,
            ds_cum,
            projects,
            proj_rank,
            proj_cum,
            purposes,
            groups,
            tags,
            policies,
            domains,
            frameworks,
            classifiers,
            app_kinds,
            app_cum,
            legacy_cum,
        }
    }

    /// The instant at a fraction of the year's activity (monotone in `frac`).
    fn ts_at(&self, frac: f64) -> i64 {
        let cum = &self.hour_cum;
        let h = cum.partition_point(|&c| c < frac).min(cum.len() - 1);
        let lo = if h == 0 { 0.0 } else { cum[h - 1] };
        let hi = cum[h];
        let within = if hi > lo {
            ((frac - lo) / (hi - lo)).clamp(0.0, 1.0)
        } else {
            0.5
        };
        let ms = self.start_ms + ((h as f64 + within) * HOUR_MS as f64) as i64;
        ms.min(self.end_ms - 1)
    }

    fn any_user(&self, rng: &mut StdRng) -> usize {
        self.user_rank[pick_cum(&self.user_cum, rng.gen())]
    }
    fn governor(&self, rng: &mut StdRng) -> usize {
        // the first governors do most of the work
        let i = (rng.gen::<f64>().powi(2) * self.governors.len() as f64) as usize;
        self.governors[i.min(self.governors.len() - 1)]
    }
    fn auditor(&self, rng: &mut StdRng) -> usize {
        self.auditors[rng.gen_range(0..self.auditors.len())]
    }
    fn any_ds(&self, rng: &mut StdRng) -> usize {
        self.ds_rank[pick_cum(&self.ds_cum, rng.gen())]
    }
    fn any_project(&self, rng: &mut StdRng) -> usize {
        self.proj_rank[pick_cum(&self.proj_cum, rng.gen())]
    }
    fn uniform_user(&self, rng: &mut StdRng) -> usize {
        rng.gen_range(1..self.users.len())
    }
    fn ds_owner_or_governor(&self, rng: &mut StdRng, d: usize) -> usize {
        if rng.gen_bool(0.85) {
            self.ds[d].owner
        } else {
            self.governor(rng)
        }
    }
}

fn thing(kind: &str, id: String, name: &str) -> Thing {
    let mut target = format!(r#"{{"type":"{kind}","id":"{id}","name":"#);
    push_json_str(&mut target, name);
    target.push('}');
    Thing { id, target }
}

fn zipf_cum(n: usize, s: f64) -> Vec<f64> {
    cumulative(
        &(1..=n)
            .map(|k| 1.0 / (k as f64).powf(s))
            .collect::<Vec<_>>(),
    )
}

fn cumulative(weights: &[f64]) -> Vec<f64> {
    let total: f64 = weights.iter().sum();
    let mut acc = 0.0;
    let mut cum: Vec<f64> = weights
        .iter()
        .map(|w| {
            acc += w / total;
            acc
        })
        .collect();
    if let Some(last) = cum.last_mut() {
        *last = 1.0;
    }
    cum
}

fn pick_cum(cum: &[f64], u: f64) -> usize {
    cum.partition_point(|&c| c <= u).min(cum.len() - 1)
}

/// (year, month, day) of a day number counted from 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

// ---------------------------------------------------------------------------------------------
// JSON writing helpers
// ---------------------------------------------------------------------------------------------

fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    let plain = |b: &u8| *b >= 0x20 && *b != b'"' && *b != b'\\';
    if s.as_bytes().iter().all(plain) {
        out.push_str(s);
        out.push('"');
        return;
    }
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{:04x}", b);
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn push_hex(out: &mut String, v: u128, digits: u32) {
    for k in (0..digits).rev() {
        out.push(HEX[((v >> (4 * k)) & 0xf) as usize] as char);
    }
}

/// A random (version 4) UUID, unquoted.
fn push_uuid_raw(out: &mut String, rng: &mut StdRng) {
    let mut b: u128 = rng.gen();
    b = (b & !(0xf000u128 << 64)) | (0x4000u128 << 64);
    b = (b & !(0xc000u128 << 48)) | (0x8000u128 << 48);
    push_hex(out, b >> 96, 8);
    out.push('-');
    push_hex(out, b >> 80, 4);
    out.push('-');
    push_hex(out, b >> 64, 4);
    out.push('-');
    push_hex(out, b >> 48, 4);
    out.push('-');
    push_hex(out, b, 12);
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn push_date(out: &mut String, ms: i64) {
    let (y, m, d) = civil_from_days(ms.div_euclid(DAY_MS));
    let _ = write!(out, "{y:04}-{m:02}-{d:02}");
}

/// `exp(N(mu, sigma))` by Box-Muller.
fn lognormal(rng: &mut StdRng, mu: f64, sigma: f64) -> f64 {
    let u1: f64 = rng.gen::<f64>().max(1e-12);
    let u2: f64 = rng.gen();
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    (mu + sigma * z).exp()
}

// ---------------------------------------------------------------------------------------------
// The event stream
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Scratch {
    sql: String,
    /// (table position in the query, column index)
    cols: Vec<(usize, usize)>,
}

struct DemoEvents {
    m: Model,
    rng: StdRng,
    sc: Scratch,
    n: usize,
    generated: usize,
    emitted: usize,
    /// Event time of the latest generated event; event times never decrease.
    last_t: i64,
    /// Pending documents by (received time, sequence).
    heap: BinaryHeap<Reverse<(i64, usize, String)>>,
}

impl Iterator for DemoEvents {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        loop {
            // Every event still to come is received after `last_t` (each has a positive delay),
            // so anything received by then can go out.
            if let Some(Reverse((r, _, _))) = self.heap.peek() {
                if *r <= self.last_t || self.generated >= self.n {
                    let Reverse((_, _, doc)) = self.heap.pop()?;
                    self.emitted += 1;
                    return Some(doc);
                }
            } else if self.generated >= self.n {
                return None;
            }
            self.generate();
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.n - self.emitted;
        (left, Some(left))
    }
}

impl DemoEvents {
    fn generate(&mut self) {
        let i = self.generated;
        self.generated += 1;
        let m = &self.m;
        let rng = &mut self.rng;
        let frac = (i as f64 + rng.gen::<f64>()) / self.n as f64;
        let t = m.ts_at(frac);
        let x: f64 = rng.gen();
        let (doc, r) = if x < QUERY_SHARE {
            query_event(m, rng, &mut self.sc, t)
        } else if x < QUERY_SHARE + APP_SHARE {
            app_event(m, rng, t)
        } else {
            legacy_record(m, rng, t)
        };
        debug_assert!(r > t);
        self.last_t = t;
        self.heap.push(Reverse((r, i, doc)));
    }
}

/// Writes one UAM event: envelope, targets, payload.
struct Uam<'a> {
    m: &'a Model,
    rng: &'a mut StdRng,
    out: String,
    t: i64,
    r: i64,
    n_targets: usize,
}

impl<'a> Uam<'a> {
    fn new(m: &'a Model, rng: &'a mut StdRng, t: i64, r: i64, cap: usize) -> Self {
        Uam {
            m,
            rng,
            out: String::with_capacity(cap),
            t,
            r,
            n_targets: 0,
        }
    }

    /// Everything up to and including `"targets":[`.
    fn head(
        &mut self,
        actor: usize,
        action: &str,
        target_type: &str,
        status: (&str, Option<&str>),
    ) {
        let user = &self.m.users[actor];
        let out = &mut self.out;
        out.push_str(r#"{"id":""#);
        push_uuid_raw(out, self.rng);
        out.push_str(r#"","tenantId":""#);
        out.push_str(TENANT);
        out.push_str(r#"","eventTimestamp":""#);
        out.push_str(&format_iso_ms(self.t));
        out.push_str(r#"","receivedTimestamp":""#);
        out.push_str(&format_iso_ms(self.r));
        out.push_str(r#"","action":""#);
        out.push_str(action);
        out.push_str(r#"","actionStatus":""#);
        out.push_str(status.0);
        out.push('"');
        if let Some(reason) = status.1 {
            out.push_str(r#","actionStatusReason":"#);
            push_json_str(out, reason);
        }
        out.push(',');
        out.push_str(&user.actor);
        // one session per user and day
        let day = self.t.div_euclid(DAY_MS) as u64;
        let h = splitmix64(
            self.m.seed
                ^ (user.profile_id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                ^ day.wrapping_mul(0xc2b2_ae3d_27d4_eb4f),
        );
        out.push_str(r#","sessionId":""#);
        push_hex(out, u128::from(h), 16);
        push_hex(out, u128::from(splitmix64(h)), 16);
        out.push_str(r#"","requestId":""#);
        push_uuid_raw(out, self.rng);
        out.push_str(r#"","targetType":""#);
        out.push_str(target_type);
        out.push_str(r#"","targets":["#);
    }

    fn target(&mut self, fragment: &str) {
        if self.n_targets > 0 {
            self.out.push(',');
        }
        self.n_targets += 1;
        self.out.push_str(fragment);
    }

    /// Closes the targets and opens the payload (`type` and `version` written).
    fn payload(&mut self, event: &str) {
        self.out
            .push_str(r#"],"relatedResources":[],"auditPayload":{"type":""#);
        self.out.push_str(event);
        self.out.push_str(r#"AuditPayload","version":1"#);
    }

    fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        push_json_str(&mut self.out, value);
    }

    fn raw(&mut self, key: &str, value: &str) {
        self.key(key);
        self.out.push_str(value);
    }

    fn int(&mut self, key: &str, value: i64) {
        self.key(key);
        let _ = write!(self.out, "{value}");
    }

    fn key(&mut self, key: &str) {
        self.out.push_str(",\"");
        self.out.push_str(key);
        self.out.push_str("\":");
    }

    fn finish(mut self) -> String {
        self.out.push_str("}}");
        self.out
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.gen_range(0..items.len())]
    }

    /// SUCCESS mostly; FAILURE or UNAUTHORIZED with a reason at the given rate.
    fn status(&mut self, fail_rate: f64) -> (&'static str, Option<&'static str>) {
        let x: f64 = self.rng.gen();
        if x >= fail_rate {
            ("SUCCESS", None)
        } else if x < fail_rate * 0.6 {
            (
                "FAILURE",
                Some(self.pick(&[
                    "Validation error: name already exists",
                    "Request timed out",
                    "Conflict: object was modified by another user",
                ])),
            )
        } else {
            (
                "UNAUTHORIZED",
                Some(self.pick(&[
                    "User lacks GOVERNANCE permission",
                    "User lacks USER_ADMIN permission",
                    "User is not an owner of this object",
                ])),
            )
        }
    }
}

fn query_event(m: &Model, rng: &mut StdRng, sc: &mut Scratch, t: i64) -> (String, i64) {
    let u = m.any_user(rng);
    let user = &m.users[u];
    let d0 = if rng.gen_bool(0.8) {
        user.fav_ds[rng.gen_range(0..user.fav_ds.len())]
    } else {
        m.any_ds(rng)
    };
    let tech = m.ds[d0].tech;
    let want = match rng.gen::<f64>() {
        x if x < 0.03 => 3,
        x if x < 0.15 => 2,
        _ => 1,
    };
    // joins: partners of the first table that share a key column, favourites first
    let partners = &m.ds[d0].partners;
    let mut tabs = [d0; 3];
    let mut joins = [(0, 0); 3];
    let mut nt = 1;
    let mut tries = 0;
    while nt < want && !partners.is_empty() && tries < 8 {
        tries += 1;
        let fav = user.fav_ds[rng.gen_range(0..user.fav_ds.len())];
        let pick = match partners.iter().find(|p| p.0 == fav) {
            Some(&p) if rng.gen_bool(0.7) => p,
            _ => partners[(rng.gen::<f64>().powi(2) * partners.len() as f64) as usize],
        };
        if !tabs[..nt].contains(&pick.0) {
            tabs[nt] = pick.0;
            joins[nt] = (pick.1, pick.2);
            nt += 1;
        }
    }
    let tabs = &tabs[..nt];
    let project = if !user.projects.is_empty() && rng.gen_bool(0.25) {
        Some(&m.projects[user.projects[rng.gen_range(0..user.projects.len())]])
    } else {
        None
    };
    let ti = tech.idx();
    let status = match rng.gen::<f64>() {
        x if x < 0.93 => ("SUCCESS", None),
        x if x < 0.975 => {
            let reasons = QUERY_FAILURES[ti];
            ("FAILURE", Some(reasons[rng.gen_range(0..reasons.len())]))
        }
        _ => {
            let reasons = QUERY_DENIALS[ti];
            (
                "UNAUTHORIZED",
                Some(reasons[rng.gen_range(0..reasons.len())]),
            )
        }
    };
    // query audit is collected from the warehouses in batches: minutes to hours late
    let delay = match rng.gen::<f64>() {
        x if x < 0.70 => rng.gen_range(MINUTE_MS..15 * MINUTE_MS),
        x if x < 0.95 => rng.gen_range(15 * MINUTE_MS..90 * MINUTE_MS),
        _ => rng.gen_range(90 * MINUTE_MS..5 * HOUR_MS),
    };
    let r = t + delay;
    let rows = build_sql(m, rng, sc, tabs, &joins[..nt], tech, t);

    let mut e = Uam::new(m, rng, t, r, 2048);
    e.head(u, "QUERY", "DATASOURCE", status);
    for &d in tabs {
        e.target(&m.ds[d].target);
    }
    if let Some(p) = project {
        e.target(&p.target);
    }
    e.out.push_str(
        r#"],"relatedResources":[],"auditPayload":{"type":"QueryAuditPayload","version":1,"queryId":""#,
    );
    push_query_id(&mut e.out, e.rng, tech, t);
    e.out.push('"');
    e.str("queryText", &sc.sql);
    e.key("technologyContext");
    let uname = &user.engine_user[ti];
    match tech {
        Tech::Snowflake => {
            e.out.push_str(r#"{"type":"SnowflakeContext","host":"demo-acme.snowflakecomputing.com","account":{"username":"#);
            e.out.push_str(uname);
            e.out.push_str(r#"},"warehouse":""#);
            e.out
                .push_str(["ANALYTICS_WH", "BI_WH", "DATA_SCIENCE_WH"][u % 3]);
            e.out.push_str(r#"","roleName":""#);
            e.out
                .push_str(["PUBLIC", "ANALYST", "DATA_SCIENTIST"][u % 3]);
            e.out.push_str("\"}");
        }
        Tech::Databricks => {
            e.out.push_str(
                r#"{"type":"DatabricksContext","workspaceId":"4187392017365542","clusterId":""#,
            );
            e.out.push_str(
                [
                    "0412-153022-k7x9q2ab",
                    "0918-081544-m3n4p5qr",
                    "1103-220117-z8y7w6vu",
                ][u % 3],
            );
            e.out.push_str(r#"","computeType":""#);
            e.out
                .push_str(["SQL_WAREHOUSE", "ALL_PURPOSE_CLUSTER"][u % 2]);
            e.out.push_str(r#"","account":{"username":"#);
            e.out.push_str(uname);
            e.out.push_str("}}");
        }
        Tech::Trino => {
            e.out
                .push_str(r#"{"type":"TrinoContext","clusterName":"starburst-prod","catalog":""#);
            e.out
                .push_str(m.ds[tabs[0]].path.split('.').next().unwrap_or("hive"));
            e.out.push_str(r#"","account":{"username":"#);
            e.out.push_str(uname);
            e.out.push_str("}}");
        }
    }
    e.key("objectsAccessed");
    e.out.push('[');
    for (k, &d) in tabs.iter().enumerate() {
        if k > 0 {
            e.out.push(',');
        }
        e.out.push_str(&m.ds[d].object);
    }
    e.out.push(']');
    e.key("columnsAccessed");
    e.out.push('[');
    for (k, &(ti, ci)) in sc.cols.iter().enumerate() {
        if k > 0 {
            e.out.push(',');
        }
        e.out.push_str(&m.ds[tabs[ti]].col_json[ci]);
    }
    e.out.push(']');
    let failed = status.0 != "SUCCESS";
    let duration = if status.0 == "UNAUTHORIZED" {
        e.rng.gen_range(20..400)
    } else {
        (lognormal(e.rng, 6.7, 1.3) * nt as f64).clamp(8.0, 3_600_000.0) as i64
    };
    e.int("durationMs", duration);
    e.int("rowsProduced", if failed { 0 } else { rows });
    if let Some(p) = project {
        e.raw("purposeIds", &p.purpose_ids_json);
    }
    (e.finish(), r)
}

fn push_query_id(out: &mut String, rng: &mut StdRng, tech: Tech, t: i64) {
    match tech {
        Tech::Snowflake | Tech::Databricks => {
            let v: u128 = rng.gen();
            push_hex(out, v >> 96, 8);
            out.push('-');
            push_hex(out, v >> 80, 4);
            out.push('-');
            push_hex(out, v >> 64, 4);
            out.push('-');
            if tech == Tech::Snowflake {
                out.push_str("0000");
            } else {
                push_hex(out, v >> 48, 4);
            }
            out.push('-');
            push_hex(out, v, 12);
        }
        Tech::Trino => {
            // 20260315_142233_01234_ab7cd
            let (y, mo, d) = civil_from_days(t.div_euclid(DAY_MS));
            let s = t.rem_euclid(DAY_MS) / 1000;
            let _ = write!(
                out,
                "{y:04}{mo:02}{d:02}_{:02}{:02}{:02}_{:05}_",
                s / 3600,
                (s / 60) % 60,
                s % 60,
                rng.gen_range(0..100_000)
            );
            for _ in 0..5 {
                out.push(b"abcdefghijkmnpqrstuvwxyz23456789"[rng.gen_range(0..32)] as char);
            }
        }
    }
}

/// Writes a plausible SQL statement over `tabs` into `sc.sql` and the columns it reads into
/// `sc.cols`; `joins[k]` holds the join columns of table 0 and table `k`. Returns the rows it
/// would produce.
fn build_sql(
    m: &Model,
    rng: &mut StdRng,
    sc: &mut Scratch,
    tabs: &[usize],
    joins: &[(usize, usize)],
    tech: Tech,
    t: i64,
) -> i64 {
    sc.sql.clear();
    sc.cols.clear();
    // BI tools quote every identifier
    let quoted = tech == Tech::Snowflake && rng.gen_bool(0.15);
    let tpl = |k: usize| &TABLES[m.ds[tabs[k]].tpl];
    // Appends `[alias.]column` and records it.
    let col = |sc: &mut Scratch, alias: Option<&str>, k: usize, ci: usize| {
        if let Some(a) = alias {
            sc.sql.push_str(a);
            sc.sql.push('.');
        }
        if quoted {
            sc.sql.push('"');
        }
        sc.sql.push_str(&m.ds[tabs[k]].cols[ci]);
        if quoted {
            sc.sql.push('"');
        }
        if !sc.cols.contains(&(k, ci)) {
            sc.cols.push((k, ci));
        }
    };
    let since = t - rng.gen_range(1..120) * DAY_MS;
    let limit = [10, 100, 500, 1000, 10_000][rng.gen_range(0..5)];
    if tabs.len() == 1 {
        let tp = tpl(0);
        let path = &m.ds[tabs[0]].path;
        match rng.gen_range(0..6) {
            0 => {
                sc.sql.push_str("SELECT ");
                col(sc, None, 0, tp.key);
                sc.sql.push_str(", ");
                col(sc, None, 0, tp.cat);
                sc.sql.push_str(", ");
                col(sc, None, 0, tp.num);
                sc.sql.push_str(" FROM ");
                sc.sql.push_str(path);
                sc.sql.push_str(" WHERE ");
                col(sc, None, 0, tp.date);
                sc.sql.push_str(" >= '");
                push_date(&mut sc.sql, since);
                sc.sql.push_str("' ORDER BY ");
                col(sc, None, 0, tp.date);
                let _ = write!(sc.sql, " DESC LIMIT {limit}");
                rng.gen_range(0..=limit)
            }
            1 => {
                sc.sql.push_str("SELECT COUNT(*) FROM ");
                sc.sql.push_str(path);
                sc.sql.push_str(" WHERE ");
                col(sc, None, 0, tp.date);
                sc.sql.push_str(" >= '");
                push_date(&mut sc.sql, since);
                sc.sql.push('\'');
                1
            }
            2 => {
                sc.sql.push_str("SELECT ");
                col(sc, None, 0, tp.cat);
                sc.sql.push_str(", COUNT(*) AS n FROM ");
                sc.sql.push_str(path);
                sc.sql.push_str(" GROUP BY ");
                col(sc, None, 0, tp.cat);
                sc.sql.push_str(" ORDER BY n DESC LIMIT 100");
                rng.gen_range(2..60)
            }
            3 => {
                let _ = write!(sc.sql, "SELECT * FROM {path} LIMIT {limit}");
                for ci in 0..tp.cols.len() {
                    sc.cols.push((0, ci));
                }
                limit
            }
            4 => {
                sc.sql.push_str("SELECT ");
                col(sc, None, 0, tp.cat);
                sc.sql.push_str(", SUM(");
                col(sc, None, 0, tp.num);
                sc.sql.push_str(") AS total FROM ");
                sc.sql.push_str(path);
                sc.sql.push_str(" WHERE ");
                col(sc, None, 0, tp.date);
                sc.sql.push_str(match tech {
                    Tech::Snowflake => " >= DATEADD(day, -30, CURRENT_DATE())",
                    Tech::Databricks => " >= date_sub(current_date(), 30)",
                    Tech::Trino => " >= current_date - INTERVAL '30' DAY",
                });
                sc.sql.push_str(" GROUP BY 1 ORDER BY 2 DESC");
                rng.gen_range(2..40)
            }
            _ => {
                let c1 = rng.gen_range(0..tp.cols.len());
                let c2 = rng.gen_range(0..tp.cols.len());
                sc.sql.push_str("SELECT ");
                col(sc, None, 0, c1);
                if c2 != c1 {
                    sc.sql.push_str(", ");
                    col(sc, None, 0, c2);
                }
                sc.sql.push_str(" FROM ");
                sc.sql.push_str(path);
                sc.sql.push_str(" WHERE ");
                col(sc, None, 0, tp.key);
                let _ = write!(sc.sql, " = {}", rng.gen_range(1000..9_999_999));
                rng.gen_range(0..3)
            }
        }
    } else {
        const ALIASES: [&str; 3] = ["a", "b", "c"];
        sc.sql.push_str("SELECT ");
        for (k, alias) in ALIASES.iter().enumerate().take(tabs.len()) {
            if k > 0 {
                sc.sql.push_str(", ");
            }
            col(sc, Some(alias), k, tpl(k).cat);
        }
        sc.sql.push_str(", SUM(");
        col(sc, Some("b"), 1, tpl(1).num);
        sc.sql.push_str(") AS total FROM ");
        sc.sql.push_str(&m.ds[tabs[0]].path);
        sc.sql.push_str(" a");
        for (k, alias) in ALIASES.iter().enumerate().take(tabs.len()).skip(1) {
            sc.sql.push_str(" JOIN ");
            sc.sql.push_str(&m.ds[tabs[k]].path);
            let _ = write!(sc.sql, " {alias} ON ");
            col(sc, Some("a"), 0, joins[k].0);
            sc.sql.push_str(" = ");
            col(sc, Some(alias), k, joins[k].1);
        }
        sc.sql.push_str(" WHERE ");
        col(sc, Some("a"), 0, tpl(0).date);
        sc.sql.push_str(" >= '");
        push_date(&mut sc.sql, since);
        let groups = if tabs.len() > 2 { "1, 2, 3" } else { "1, 2" };
        let _ = write!(sc.sql, "' GROUP BY {groups} LIMIT {limit}");
        rng.gen_range(0..=limit)
    }
}

fn app_event(m: &Model, rng: &mut StdRng, t: i64) -> (String, i64) {
    let name = m.app_kinds[pick_cum(&m.app_cum, rng.gen())];
    let r = t + rng.gen_range(40..900);
    let mut e = Uam::new(m, rng, t, r, 768);
    let crud = |name: &str| {
        if name.ends_with("Created") || name.ends_with("Upserted") {
            "CREATE"
        } else if name.ends_with("Deleted") {
            "DELETE"
        } else {
            "UPDATE"
        }
    };
    match name {
        "ApiKeyCreated" | "ApiKeyDeleted" => {
            let a = m.any_user(e.rng);
            let st = e.status(0.01);
            e.head(a, crud(name), "APIKEY", st);
            e.payload(name);
            let id = e.rng.gen_range(1_000_000..2_000_000).to_string();
            e.str("apiKeyId", &id);
            let key_name = e.pick(API_KEY_NAMES);
            e.str("name", key_name);
        }
        "AttributeApplied" | "AttributeRemoved" => {
            let a = m.governor(e.rng);
            let to_group = e.rng.gen_bool(0.3);
            let st = e.status(0.005);
            let action = if name == "AttributeApplied" {
                "APPLY"
            } else {
                "REMOVE"
            };
            e.head(a, action, if to_group { "GROUP" } else { "USER" }, st);
            if to_group {
                let g = e.rng.gen_range(0..m.groups.len());
                e.target(&m.groups[g].target);
            } else {
                let u = m.uniform_user(e.rng);
                e.target(&m.users[u].target);
            }
            e.payload(name);
            let (attr, values) = e.pick(ATTRIBUTES);
            let value = e.pick(&values.split('|').collect::<Vec<_>>());
            e.str("attributeName", attr);
            e.str("attributeValue", value);
        }
        "ConfigurationUpdated" => {
            let a = m.governor(e.rng);
            let st = e.status(0.01);
            e.head(a, "UPDATE", "CONFIGURATION", st);
            e.payload(name);
            let path = e.pick(CONFIG_PATHS);
            e.str("configurationPath", path);
        }
        "DatasourceAppliedToProject" | "DatasourceRemovedFromProject" => {
            let p = m.any_project(e.rng);
            let proj = &m.projects[p];
            let d = proj.ds[e.rng.gen_range(0..proj.ds.len())];
            let a = if e.rng.gen_bool(0.8) {
                proj.owner
            } else {
                proj.members[e.rng.gen_range(0..proj.members.len())]
            };
            let st = e.status(0.01);
            let action = if name == "DatasourceAppliedToProject" {
                "ADD"
            } else {
                "REMOVE"
            };
            e.head(a, action, "DATASOURCE", st);
            e.target(&m.ds[d].target);
            e.target(&proj.target);
            e.payload(name);
            e.raw("purposeIds", &proj.purpose_ids_json);
        }
        "DatasourceCatalogSynced" => {
            let d = m.any_ds(e.rng);
            let st = e.status(0.01);
            e.head(SYSTEM, "SYNC", "DATASOURCE", st);
            e.target(&m.ds[d].target);
            e.payload(name);
            let catalog = e.pick(CATALOGS);
            e.str("catalog", catalog);
            let added = e.rng.gen_range(0..6);
            let removed = e.rng.gen_range(0..3);
            e.int("tagsAdded", added);
            e.int("tagsRemoved", removed);
        }
        "SDDDatasourceTagUpdated" => {
            let d = m.any_ds(e.rng);
            let st = e.status(0.005);
            e.head(SYSTEM, "UPDATE", "DATASOURCE", st);
            e.target(&m.ds[d].target);
            e.payload(name);
            let tpl = &TABLES[m.ds[d].tpl];
            e.key("tagsAdded");
            e.out.push('[');
            let mut first = true;
            for &(col, tag) in tpl.cols {
                if tag.starts_with("Discovered.") && e.rng.gen_bool(0.5) {
                    if !first {
                        e.out.push(',');
                    }
                    first = false;
                    let _ = write!(e.out, r#"{{"column":"{col}","tag":"{tag}"}}"#);
                }
            }
            e.out.push(']');
            let frameworks = e.rng.gen_range(0..m.frameworks.len());
            e.str("framework", FRAMEWORKS[frameworks]);
        }
        "DatasourceCreated" | "DatasourceDeleted" | "DatasourceDisabled" | "DatasourceUpdated" => {
            let d = m.any_ds(e.rng);
            let a = m.ds_owner_or_governor(e.rng, d);
            let st = e.status(0.01);
            let action = if name == "DatasourceDisabled" {
                "DISABLE"
            } else {
                crud(name)
            };
            e.head(a, action, "DATASOURCE", st);
            e.target(&m.ds[d].target);
            e.payload(name);
            e.str("technology", m.ds[d].tech.upper());
            e.str("remoteTable", &m.ds[d].path);
            if name == "DatasourceUpdated" {
                let field = e.pick(&[
                    "description",
                    "columns",
                    "owners",
                    "connection",
                    "refreshSchedule",
                    "documentation",
                ]);
                e.raw("updatedFields", &format!("[\"{field}\"]"));
            }
        }
        "DatasourceGlobalPolicyApplied"
        | "DatasourceGlobalPolicyConflictResolved"
        | "DatasourceGlobalPolicyDisabled"
        | "DatasourceGlobalPolicyRemoved"
        | "DatasourcePolicyCertificationExpired"
        | "DatasourcePolicyCertified"
        | "DatasourcePolicyDecertified" => {
            let d = m.any_ds(e.rng);
            let pi = e.rng.gen_range(0..m.policies.len());
            let (a, action) = match name {
                "DatasourceGlobalPolicyApplied" => (
                    if e.rng.gen_bool(0.7) {
                        SYSTEM
                    } else {
                        m.governor(e.rng)
                    },
                    "APPLY",
                ),
                "DatasourceGlobalPolicyConflictResolved" => (m.governor(e.rng), "UPDATE"),
                "DatasourceGlobalPolicyDisabled" => (m.ds_owner_or_governor(e.rng, d), "DISABLE"),
                "DatasourceGlobalPolicyRemoved" => (
                    if e.rng.gen_bool(0.5) {
                        SYSTEM
                    } else {
                        m.ds_owner_or_governor(e.rng, d)
                    },
                    "REMOVE",
                ),
                "DatasourcePolicyCertificationExpired" => (SYSTEM, "EXPIRE"),
                "DatasourcePolicyCertified" => (m.ds_owner_or_governor(e.rng, d), "CERTIFY"),
                _ => (m.ds_owner_or_governor(e.rng, d), "DECERTIFY"),
            };
            let st = e.status(0.005);
            e.head(a, action, "DATASOURCE", st);
            e.target(&m.ds[d].target);
            e.target(&m.policies[pi].target);
            e.payload(name);
            e.str("policyId", &m.policies[pi].id);
            e.str("policyType", GLOBAL_POLICIES[pi].1);
        }
        "LocalPolicyCreated" | "LocalPolicyUpdated" => {
            let d = m.any_ds(e.rng);
            let a = m.ds_owner_or_governor(e.rng, d);
            let st = e.status(0.01);
            e.head(a, crud(name), "DATASOURCE", st);
            e.target(&m.ds[d].target);
            e.payload(name);
            let kind = e.pick(&["masking", "rowRestriction", "subscription"]);
            e.str("policyType", kind);
        }
        "DomainCreated" | "DomainUpdated" | "DomainDeleted" => {
            let a = m.governor(e.rng);
            let di = e.rng.gen_range(0..m.domains.len());
            let st = e.status(0.01);
            e.head(a, crud(name), "DOMAIN", st);
            e.target(&m.domains[di].target);
            e.payload(name);
            e.str("domainId", &m.domains[di].id);
        }
        "DomainDataSourcesUpdated" => {
            let a = m.governor(e.rng);
            let di = e.rng.gen_range(0..m.domains.len());
            let d = m.any_ds(e.rng);
            let st = e.status(0.005);
            e.head(a, "UPDATE", "DOMAIN", st);
            e.target(&m.domains[di].target);
            e.target(&m.ds[d].target);
            e.payload(name);
            let kind = e.pick(&["ADDED", "ADDED", "ADDED", "REMOVED", "UPDATED"]);
            e.str("updateType", kind);
        }
        "DomainPermissionsUpdated" => {
            let a = m.governor(e.rng);
            let di = e.rng.gen_range(0..m.domains.len());
            let u = m.uniform_user(e.rng);
            let st = e.status(0.005);
            e.head(a, "UPDATE", "DOMAIN", st);
            e.target(&m.domains[di].target);
            e.target(&m.users[u].target);
            e.payload(name);
            let kind = e.pick(&["GRANTED", "GRANTED", "REVOKED"]);
            e.str("updateType", kind);
            let perm = e.pick(&["Manage Policies", "Audit Activity", "Manage Data Sources"]);
            e.str("permission", perm);
        }
        "GlobalPolicyApprovalRescinded"
        | "GlobalPolicyApproved"
        | "GlobalPolicyChangeRequested"
        | "GlobalPolicyCreated"
        | "GlobalPolicyDeleted"
        | "GlobalPolicyPromoted"
        | "GlobalPolicyReviewRequested"
        | "GlobalPolicyUpdated" => {
            let a = m.governor(e.rng);
            let pi = e.rng.gen_range(0..m.policies.len());
            let action = match name {
                "GlobalPolicyApprovalRescinded" => "RESCIND",
                "GlobalPolicyApproved" => "APPROVE",
                "GlobalPolicyChangeRequested" | "GlobalPolicyReviewRequested" => "REQUEST",
                "GlobalPolicyPromoted" => "PROMOTE",
                _ => crud(name),
            };
            let st = e.status(0.01);
            e.head(a, action, "POLICY", st);
            e.target(&m.policies[pi].target);
            e.payload(name);
            e.str("policyId", &m.policies[pi].id);
            e.str("policyType", GLOBAL_POLICIES[pi].1);
        }
        "GroupCreated" | "GroupDeleted" | "GroupUpdated" | "GroupMemberAdded"
        | "GroupMemberRemoved" => {
            let a = if e.rng.gen_bool(0.4) {
                SYSTEM // synced from the external IAM
            } else {
                m.governor(e.rng)
            };
            let g = e.rng.gen_range(0..m.groups.len());
            let action = match name {
                "GroupMemberAdded" => "ADD",
                "GroupMemberRemoved" => "REMOVE",
                _ => crud(name),
            };
            let st = e.status(0.005);
            e.head(a, action, "GROUP", st);
            e.target(&m.groups[g].target);
            let member = name
                .starts_with("GroupMember")
                .then(|| m.uniform_user(e.rng));
            if let Some(u) = member {
                e.target(&m.users[u].target);
            }
            e.payload(name);
            e.str("groupId", &m.groups[g].id);
            if let Some(u) = member {
                e.str("memberProfileId", &m.users[u].profile_id.to_string());
            }
        }
        "LicenseCreated" | "LicenseDeleted" => {
            let a = m.governor(e.rng);
            let st = e.status(0.01);
            e.head(a, crud(name), "LICENSE", st);
            e.payload(name);
            let id = e.rng.gen_range(100..999).to_string();
            e.str("licenseId", &id);
            let feature = e.pick(&["Enterprise", "Detect", "Discover", "Secure"]);
            e.str("feature", feature);
        }
        "PermissionApplied" | "PermissionRemoved" => {
            let a = m.governor(e.rng);
            let u = m.uniform_user(e.rng);
            let st = e.status(0.005);
            let action = if name == "PermissionApplied" {
                "APPLY"
            } else {
                "REMOVE"
            };
            e.head(a, action, "USER", st);
            e.target(&m.users[u].target);
            e.payload(name);
            let perm = e.pick(PERMISSIONS);
            e.str("permission", perm);
        }
        "PolicyAdjustmentCreated" | "PolicyAdjustmentDeleted" => {
            let p = m.any_project(e.rng);
            let proj = &m.projects[p];
            let a = proj.owner;
            let st = e.status(0.01);
            e.head(a, crud(name), "PROJECT", st);
            e.target(&proj.target);
            e.payload(name);
            let id = e.rng.gen_range(1..500).to_string();
            e.str("adjustmentId", &id);
            let kind = e.pick(&["masking", "rowRestriction"]);
            e.str("policyType", kind);
            e.raw("purposeIds", &proj.purpose_ids_json);
        }
        "ProjectCreated"
        | "ProjectDeleted"
        | "ProjectDisabled"
        | "ProjectUpdated"
        | "ProjectPurposesAcknowledged" => {
            let p = m.any_project(e.rng);
            let proj = &m.projects[p];
            let a = if name == "ProjectPurposesAcknowledged" {
                proj.members[e.rng.gen_range(0..proj.members.len())]
            } else {
                proj.owner
            };
            let action = match name {
                "ProjectDisabled" => "DISABLE",
                "ProjectPurposesAcknowledged" => "ACKNOWLEDGE",
                _ => crud(name),
            };
            let st = e.status(0.005);
            e.head(a, action, "PROJECT", st);
            e.target(&proj.target);
            e.payload(name);
            e.str("projectId", &proj.id.to_string());
            e.raw("purposeIds", &proj.purpose_ids_json);
        }
        "ProjectPurposeApproved" | "ProjectPurposeDenied" => {
            let p = m.any_project(e.rng);
            let proj = &m.projects[p];
            let pu = proj.purposes[e.rng.gen_range(0..proj.purposes.len())];
            let a = m.governor(e.rng);
            let st = e.status(0.005);
            let action = if name == "ProjectPurposeApproved" {
                "APPROVE"
            } else {
                "DENY"
            };
            e.head(a, action, "PROJECT", st);
            e.target(&proj.target);
            e.target(&m.purposes[pu].target);
            e.payload(name);
            let ids = format!("[{}]", m.purposes[pu].id);
            e.raw("purposeIds", &ids);
        }
        "PurposeDeleted" | "PurposeUpdated" | "PurposeUpserted" => {
            let a = m.governor(e.rng);
            let pu = e.rng.gen_range(0..m.purposes.len());
            let st = e.status(0.01);
            e.head(a, crud(name), "PURPOSE", st);
            e.target(&m.purposes[pu].target);
            e.payload(name);
            e.str("purposeId", &m.purposes[pu].id);
        }
        "SDDClassifierCreated" | "SDDClassifierUpdated" | "SDDClassifierDeleted" => {
            let a = m.governor(e.rng);
            let ci = e.rng.gen_range(0..CLASSIFIERS.len());
            let (cname, member, value) = CLASSIFIERS[ci];
            let st = e.status(0.01);
            e.head(a, crud(name), "CLASSIFIER", st);
            e.target(&m.classifiers[ci].target);
            e.payload(name);
            e.str("name", cname);
            if name != "SDDClassifierDeleted" {
                e.key("config");
                let _ = write!(e.out, r#"{{"{member}":"#);
                if member == "values" {
                    e.out.push('[');
                    for (k, v) in value.split('|').enumerate() {
                        if k > 0 {
                            e.out.push(',');
                        }
                        push_json_str(&mut e.out, v);
                    }
                    e.out.push(']');
                } else {
                    push_json_str(&mut e.out, value);
                }
                e.out.push('}');
            }
        }
        "SDDTemplateApplied" | "SDDTemplateCloned" | "SDDTemplateCreated"
        | "SDDTemplateDeleted" | "SDDTemplateUpdated" => {
            let a = m.governor(e.rng);
            let fi = e.rng.gen_range(0..m.frameworks.len());
            let action = match name {
                "SDDTemplateApplied" => "APPLY",
                "SDDTemplateCloned" => "CLONE",
                _ => crud(name),
            };
            let st = e.status(0.01);
            e.head(a, action, "IDENTIFICATION_FRAMEWORK", st);
            e.target(&m.frameworks[fi].target);
            if name == "SDDTemplateApplied" {
                let d = m.any_ds(e.rng);
                e.target(&m.ds[d].target);
            }
            e.payload(name);
            e.str("name", FRAMEWORKS[fi]);
            if name == "SDDTemplateCloned" {
                e.str("clonedFrom", FRAMEWORKS[0]);
            }
        }
        "SubscriptionCreated"
        | "SubscriptionDeleted"
        | "SubscriptionRequestApproved"
        | "SubscriptionRequestDenied"
        | "SubscriptionRequested"
        | "SubscriptionUpdated" => {
            let subscriber = m.any_user(e.rng);
            let on_project = e.rng.gen_bool(0.15);
            let (model_type, target, owner) = if on_project {
                let p = m.any_project(e.rng);
                ("PROJECT", &m.projects[p].target, m.projects[p].owner)
            } else {
                let d = if e.rng.gen_bool(0.7) {
                    let fav = &m.users[subscriber].fav_ds;
                    fav[e.rng.gen_range(0..fav.len())]
                } else {
                    m.any_ds(e.rng)
                };
                ("DATASOURCE", &m.ds[d].target, m.ds[d].owner)
            };
            // approvals and denials are made by the owner, the rest by the subscriber
            let decided_by_owner = matches!(
                name,
                "SubscriptionRequestApproved" | "SubscriptionRequestDenied"
            );
            let a = if decided_by_owner { owner } else { subscriber };
            let action = match name {
                "SubscriptionRequestApproved" => "APPROVE",
                "SubscriptionRequestDenied" => "DENY",
                "SubscriptionRequested" => "REQUEST",
                _ => crud(name),
            };
            let st = e.status(0.01);
            e.head(a, action, model_type, st);
            // the subscribed object, with its model type as `model.type`
            e.target(&target[..target.len() - 1]);
            let _ = write!(e.out, r#","model":{{"type":"{model_type}"}}}}"#);
            if decided_by_owner {
                e.target(&m.users[subscriber].target);
            }
            e.payload(name);
            e.str("modelType", model_type);
            if name == "SubscriptionUpdated" {
                let level = e.pick(&["SUBSCRIBED", "EXPERT", "OWNER"]);
                e.str("subscriptionLevel", level);
            }
        }
        "TagApplied" | "TagRemoved" => {
            let d = m.any_ds(e.rng);
            let a = if e.rng.gen_bool(0.3) {
                m.governor(e.rng)
            } else {
                m.ds_owner_or_governor(e.rng, d)
            };
            let tg = e.rng.gen_range(0..m.tags.len());
            let st = e.status(0.005);
            let action = if name == "TagApplied" {
                "APPLY"
            } else {
                "REMOVE"
            };
            e.head(a, action, "DATASOURCE", st);
            e.target(&m.ds[d].target);
            e.target(&m.tags[tg].target);
            e.payload(name);
            e.str("tagName", TAGS[tg]);
            if e.rng.gen_bool(0.6) {
                let cols = TABLES[m.ds[d].tpl].cols;
                let (c, _) = cols[e.rng.gen_range(0..cols.len())];
                e.str("columnName", c);
            }
        }
        "TagCreated" | "TagDeleted" | "TagUpdated" => {
            let a = m.governor(e.rng);
            let tg = e.rng.gen_range(0..m.tags.len());
            let st = e.status(0.01);
            e.head(a, crud(name), "TAG", st);
            e.target(&m.tags[tg].target);
            e.payload(name);
            e.str("tagName", TAGS[tg]);
        }
        "UserAuthenticated" | "UserLogout" => {
            let u = m.any_user(e.rng);
            let method = if e.rng.gen_bool(0.1) {
                "apiKey"
            } else {
                m.users[u].auth
            };
            let login = name == "UserAuthenticated";
            let st = if login && e.rng.gen_bool(0.03) {
                let reason = e.pick(&[
                    "Invalid username or password",
                    "SAML assertion expired",
                    "API key revoked",
                ]);
                ("FAILURE", Some(reason))
            } else {
                ("SUCCESS", None)
            };
            e.head(u, if login { "LOGIN" } else { "LOGOUT" }, "USER", st);
            e.target(&m.users[u].target);
            e.payload(name);
            e.str("authenticationMethod", method);
            if !login {
                let reason = e.pick(&[
                    "EXPIRATION",
                    "EXPIRATION",
                    "EXPIRATION",
                    "USER_LOGOUT_TRIGGERED",
                    "USER_LOGOUT_TRIGGERED",
                    "IDP_INITIATED",
                ]);
                e.str("logoutReason", reason);
            }
        }
        "UserCloned"
        | "UserCreated"
        | "UserDeleted"
        | "UserUpdated"
        | "UserPasswordUpdated"
        | "UserOneTimeTokenCreated" => {
            let u = m.uniform_user(e.rng);
            let a = if name == "UserPasswordUpdated" && e.rng.gen_bool(0.7) {
                u
            } else if name == "UserCreated" && e.rng.gen_bool(0.5) {
                SYSTEM // provisioned from the IdP
            } else {
                m.governor(e.rng)
            };
            let action = match name {
                "UserCloned" => "CLONE",
                "UserOneTimeTokenCreated" => "CREATE",
                _ => crud(name),
            };
            let st = e.status(0.005);
            e.head(a, action, "USER", st);
            e.target(&m.users[u].target);
            e.payload(name);
            e.str("userId", &m.users[u].email);
            if name == "UserCloned" {
                let from = m.uniform_user(e.rng);
                e.str("clonedFrom", &m.users[from].email);
            }
        }
        "WebhookCreated" | "WebhookDeleted" => {
            let a = m.governor(e.rng);
            let st = e.status(0.01);
            e.head(a, crud(name), "WEBHOOK", st);
            e.payload(name);
            let id = e.rng.gen_range(1..200).to_string();
            e.str("webhookId", &id);
            let url = e.pick(WEBHOOK_URLS);
            e.str("url", url);
        }
        "AuditQuery" => {
            let a = m.auditor(e.rng);
            let st = e.status(0.01);
            e.head(a, "READ", "AUDIT", st);
            e.payload(name);
            e.str("endpoint", "/audit");
            let filter = e.pick(&[
                "recordType=SnowflakeQuery",
                "outcome=insufficientAuthorizations",
                "recordType=authenticate",
                "dataSourceId=",
                "profileId=",
                "minDate=",
            ]);
            e.out.push_str(r#","parameters":""#);
            e.out.push_str(filter);
            match filter {
                "dataSourceId=" => {
                    let d = m.any_ds(e.rng);
                    let _ = write!(e.out, "{}", m.ds[d].id);
                }
                "profileId=" => {
                    let u = m.any_user(e.rng);
                    let _ = write!(e.out, "{}", m.users[u].profile_id);
                }
                "minDate=" => push_date(&mut e.out, t - 30 * DAY_MS),
                _ => {}
            }
            e.out.push_str(r#"&size=50""#);
            let hits = e.rng.gen_range(0..5000);
            e.int("resultCount", hits);
        }
        _ => {
            // a catalogue event this generator does not know yet: envelope and payload type only
            let a = m.governor(e.rng);
            let st = e.status(0.01);
            e.head(a, crud(name), "OTHER", st);
            e.payload(name);
        }
    }
    (e.finish(), r)
}

fn legacy_record(m: &Model, rng: &mut StdRng, t: i64) -> (String, i64) {
    let (rt, _, traits) = LEGACY_TYPES[pick_cum(&m.legacy_cum, rng.gen())];
    let r = t + rng.gen_range(5..400);
    let u = if traits & L_SYSTEM != 0 && rng.gen_bool(0.85) {
        SYSTEM
    } else if traits & L_AUDIT != 0 && rng.gen_bool(0.8) {
        m.auditor(rng)
    } else if traits & L_GOV != 0 {
        m.governor(rng)
    } else {
        m.any_user(rng)
    };
    let user = &m.users[u];
    let ds = (traits & L_DS != 0).then(|| {
        if !user.fav_ds.is_empty() && rng.gen_bool(0.8) {
            user.fav_ds[rng.gen_range(0..user.fav_ds.len())]
        } else {
            m.any_ds(rng)
        }
    });
    let proj_wanted = traits & L_PROJ != 0 || (traits & L_PROJ_OPT != 0 && rng.gen_bool(0.2));
    let project = if proj_wanted {
        if !user.projects.is_empty() {
            Some(user.projects[rng.gen_range(0..user.projects.len())])
        } else {
            Some(m.any_project(rng))
        }
    } else {
        None
    };
    // outcome: queries and audit reads fail more often than the rest
    let x: f64 = rng.gen();
    let rates: [f64; 5] = if traits & L_QUERY != 0 {
        [0.05, 0.015, 0.02, 0.01, 0.005]
    } else if traits & L_AUDIT != 0 {
        [0.01, 0.005, 0.004, 0.004, 0.04]
    } else {
        [0.02, 0.01, 0.004, 0.004, 0.002]
    };
    let mut outcome = 0;
    let mut acc = 0.0;
    for (k, rate) in rates.iter().enumerate() {
        acc += rate;
        if x < acc {
            outcome = k + 1;
            break;
        }
    }
    let (outcome_name, reasons) = OUTCOME_REASONS[outcome];

    let mut out = String::with_capacity(512);
    out.push_str(r#"{"dateTime":""#);
    let _ = write!(out, "{t}");
    out.push_str(r#"","dataSourceId":"#);
    match ds {
        Some(d) => {
            let _ = write!(
                out,
                "{},\"dataSourceName\":{}",
                m.ds[d].id, m.ds[d].name_json
            );
        }
        None => out.push_str(r#"null,"dataSourceName":null"#),
    }
    out.push_str(r#","projectId":"#);
    match project {
        Some(p) => {
            let _ = write!(
                out,
                "{},\"projectName\":{}",
                m.projects[p].id, m.projects[p].name_json
            );
        }
        None => out.push_str(r#"null,"projectName":null"#),
    }
    out.push_str(r#","recordType":""#);
    out.push_str(rt);
    out.push_str(r#"","blobId":"#);
    if traits & L_BLOB != 0 {
        out.push('"');
        push_hex(&mut out, u128::from(rng.gen::<u64>()), 16);
        out.push('"');
    } else {
        out.push_str("null");
    }
    out.push_str(r#","userId":"#);
    if u == SYSTEM {
        out.push_str(r#""immuta_system_account""#);
    } else {
        push_json_str(&mut out, &user.email);
    }
    let _ = write!(out, r#","profileId":{},"purposeIds":"#, user.profile_id);
    match project {
        Some(p) if rng.gen_bool(0.85) => out.push_str(&m.projects[p].purpose_ids_json),
        _ => out.push_str("null"),
    }
    let _ = write!(
        out,
        r#","success":{},"outcome":"{outcome_name}","failureReason":"#,
        outcome == 0
    );
    if reasons.is_empty() {
        out.push_str("null");
    } else {
        push_json_str(&mut out, reasons[rng.gen_range(0..reasons.len())]);
    }
    out.push_str(r#","warning":"#);
    if traits & L_QUERY != 0 {
        out.push_str(if rng.gen_bool(0.02) { "true" } else { "false" });
    } else {
        out.push_str("null");
    }
    out.push_str(r#","id":""#);
    push_uuid_raw(&mut out, rng);
    out.push_str(r#"","fingerprintVersionName":null,"email":"#);
    if u == SYSTEM {
        out.push_str("null");
    } else {
        push_json_str(&mut out, &user.email);
    }
    out.push('}');
    (out, r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};
    use trail_model::{catalog, parse_event, EventForm, Outcome};

    fn spec(events: usize) -> DemoSpec {
        DemoSpec {
            events,
            ..DemoSpec::default()
        }
    }

    #[test]
    fn default_end_is_november_first_2026() {
        assert_eq!(
            format_iso_ms(DemoSpec::default().end_ms),
            "2026-11-01T00:00:00.000Z"
        );
    }

    #[test]
    fn every_document_parses() {
        let mut n = 0;
        let mut last_received = i64::MIN;
        for doc in demo_events(&spec(20_000)) {
            let d = parse_event(&doc).unwrap_or_else(|e| panic!("{e}\n{doc}"));
            let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
            if d.form == EventForm::Uam {
                let r = v["receivedTimestamp"].as_str().unwrap();
                let r = trail_model::timefmt::parse_iso_ms(r).unwrap();
                assert!(r > d.event_time_ms, "{doc}");
                assert!(r >= last_received, "not in received order: {doc}");
                last_received = r;
            }
            n += 1;
        }
        assert_eq!(n, 20_000);
    }

    #[test]
    fn same_spec_same_documents() {
        let a: Vec<String> = demo_events(&spec(5_000)).take(1_000).collect();
        let b: Vec<String> = demo_events(&spec(5_000)).take(1_000).collect();
        assert_eq!(a, b);
        let c: Vec<String> = demo_events(&DemoSpec {
            seed: 7,
            ..spec(5_000)
        })
        .take(1_000)
        .collect();
        assert_ne!(a, c);
        assert_eq!(demo_cast(&spec(1)), demo_cast(&spec(99)));
    }

    #[test]
    fn cast_matches_the_events() {
        let cast = demo_cast(&DemoSpec::default());
        assert_eq!(cast.profile_ids.len(), N_USERS);
        assert_eq!(cast.data_source_ids.len(), N_DS);
        assert_eq!(cast.project_ids.len(), PROJECT_NAMES.len());
        assert!(!cast.profile_ids.contains(&1));
        let mut ds_seen = BTreeSet::new();
        let mut users_seen = BTreeSet::new();
        let mut proj_seen = BTreeSet::new();
        for doc in demo_events(&spec(20_000)) {
            let d = parse_event(&doc).unwrap();
            ds_seen.extend(d.data_sources.iter().map(|n| n.id));
            proj_seen.extend(d.project.iter().map(|n| n.id));
            users_seen.extend(d.profile_id);
        }
        // the first (busiest) ids of the cast do appear in the events
        assert!(cast.data_source_ids[..10]
            .iter()
            .all(|i| ds_seen.contains(i)));
        assert!(cast.project_ids[..5].iter().all(|i| proj_seen.contains(i)));
        assert!(cast.profile_ids[..10]
            .iter()
            .all(|i| users_seen.contains(i)));
        assert!(ds_seen.iter().all(|i| cast.data_source_ids.contains(i)));
    }

    #[test]
    fn demo_uam_events_pass_ingest_validation_against_the_catalogue() {
        let spec = DemoSpec {
            events: 60_000,
            ..DemoSpec::default()
        };
        let mut names = BTreeSet::new();
        for doc in demo_events(&spec) {
            if !doc.contains(r#""auditPayload""#) {
                continue;
            }
            match trail_model::validate_event(&doc, false) {
                Ok(trail_model::Checked::Known(name)) => {
                    names.insert(name);
                }
                other => panic!("{other:?}\n{doc}"),
            }
        }
        assert_eq!(
            names.len(),
            CATALOG.len(),
            "every catalogue event was generated and checked"
        );
    }

    #[test]
    fn a_year_covers_the_catalogue_and_all_outcomes() {
        let mut names: BTreeMap<String, usize> = BTreeMap::new();
        let mut outcomes = BTreeSet::new();
        let mut legacy_types = BTreeSet::new();
        let (mut min_t, mut max_t) = (i64::MAX, i64::MIN);
        let mut joins = 0;
        let mut with_project = 0;
        let (mut n, mut uam, mut queries, mut legacy) = (0usize, 0usize, 0usize, 0usize);
        let default = DemoSpec::default();
        for doc in demo_events(&default) {
            n += 1;
            let d = parse_event(&doc).unwrap_or_else(|e| panic!("{e}\n{doc}"));
            min_t = min_t.min(d.event_time_ms);
            max_t = max_t.max(d.event_time_ms);
            outcomes.insert(d.outcome);
            match d.form {
                EventForm::Uam => {
                    uam += 1;
                    // the payload type, read off the compact text (a full parse per document
                    // makes this test slow in debug builds)
                    let at = doc.find(r#""auditPayload":{"type":""#).unwrap() + 24;
                    let payload_type = &doc[at..at + doc[at..].find('"').unwrap()];
                    let name = if payload_type == "QueryAuditPayload" {
                        // trail-model names query events by platform
                        assert!(QUERY_EVENTS.contains(&d.record_type.as_str()), "{doc}");
                        d.record_type.clone()
                    } else {
                        payload_type
                            .strip_suffix("AuditPayload")
                            .unwrap()
                            .to_string()
                    };
                    if QUERY_EVENTS.contains(&name.as_str()) {
                        queries += 1;
                        joins += usize::from(d.data_sources.len() >= 2);
                        with_project += usize::from(d.project.is_some());
                        if d.project.is_some() {
                            assert!(!d.purpose_ids.is_empty());
                        }
                    }
                    *names.entry(name).or_default() += 1;
                }
                EventForm::Legacy => {
                    legacy += 1;
                    legacy_types.insert(d.record_type);
                }
            }
        }
        assert_eq!(n, default.events);
        for e in catalog::CATALOG {
            let count = names.get(e.name).copied().unwrap_or(0);
            assert!(count >= 3, "{} appears {count} times", e.name);
        }
        assert_eq!(outcomes.len(), Outcome::ALL.len(), "{outcomes:?}");
        assert!(joins > 100, "{joins} joins");
        assert!(with_project > 100, "{with_project} project queries");
        for rt in [
            "sqlQuery",
            "blobFetch",
            "auditQuery",
            "handleTask",
            "switchCurrentProject",
            "queryDebugRequest",
            "policyExport",
            "dictionaryCreate",
        ] {
            assert!(legacy_types.contains(rt), "{rt}");
        }
        let share = |k: usize| k as f64 / n as f64;
        assert!((0.67..0.73).contains(&share(queries)), "{queries}");
        assert!((0.17..0.23).contains(&share(uam - queries)), "{uam}");
        assert!((0.08..0.12).contains(&share(legacy)), "{legacy}");
        let year_start = default.end_ms - 365 * DAY_MS;
        assert!(min_t >= year_start && min_t < year_start + 3 * DAY_MS);
        assert!(max_t < default.end_ms && max_t > default.end_ms - 3 * DAY_MS);
    }

    #[test]
    fn weekdays_and_business_hours_dominate() {
        let (mut weekday, mut business) = (0usize, 0usize);
        let docs: Vec<String> = demo_events(&spec(20_000)).collect();
        for doc in &docs {
            let t = parse_event(doc).unwrap().event_time_ms;
            let day = t.div_euclid(DAY_MS);
            weekday += usize::from((day + 3).rem_euclid(7) < 5);
            let hour = t.rem_euclid(DAY_MS) / HOUR_MS;
            business += usize::from((7..=21).contains(&hour));
        }
        assert!(weekday as f64 / docs.len() as f64 > 0.85, "{weekday}");
        assert!(business as f64 / docs.len() as f64 > 0.8, "{business}");
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut s = String::new();
        push_json_str(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, r#""a\"b\\c\nd\u0001é""#);
        let v: String = serde_json::from_str(&s).unwrap();
        assert_eq!(v, "a\"b\\c\nd\u{1}é");
    }

    /// `cargo test --release -p trail-cli --bin trail demo::tests::rate -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn rate() {
        let spec = spec(1_000_000);
        let start = std::time::Instant::now();
        let bytes: usize = demo_events(&spec).map(|d| d.len()).sum();
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{} events, {:.1} MB in {secs:.2}s: {:.0} events/s",
            spec.events,
            bytes as f64 / 1e6,
            spec.events as f64 / secs
        );
    }
}
