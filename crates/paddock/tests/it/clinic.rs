//! Clinical fixtures: ready-made clients, patients, encounters and bookings, built
//! through the store's public functions.

use chrono::{DateTime, Duration, TimeZone, Utc};
use paddock_domain::{
    AllergySeverity, AppointmentKind, CodeSystem, EncounterKind, PatientSex, Phone, ProblemKind,
    ResourceKind, Route, UserId, WeightKg,
};
use paddock_store::TenantTx;
use paddock_store::appointments::bookings::{self, Booking};
use paddock_store::appointments::resources;
use paddock_store::clinical::clients::{self, Client, ClientDetails};
use paddock_store::clinical::encounters::{self, NewEncounter, Soap};
use paddock_store::clinical::patients::{self, Patient, PatientDetails, Standing};
use paddock_store::clinical::record::{
    self, NewAllergy, NewPrescription, NewProblem, NewVaccination, NewVitals,
};
use uuid::Uuid;

/// A client called `given family`.
pub fn client_details(given: &str, family: &str) -> ClientDetails {
    ClientDetails {
        given_name: given.to_owned(),
        family_name: family.to_owned(),
        email: Some(
            paddock_domain::Email::parse(
                "email",
                &format!(
                    "{}.{}@example.org",
                    given.to_lowercase(),
                    family.to_lowercase()
                ),
            )
            .unwrap(),
        ),
        mobile: Some(Phone::parse("mobile", "+44 7700 900123").unwrap()),
        phone: None,
        address: Some("1 Mill Lane\nRiverside".to_owned()),
        contact_by_email: true,
        contact_by_sms: false,
        reminders: true,
        notes: None,
    }
}

/// A neutered male dog called `name`.
pub fn dog(name: &str) -> PatientDetails {
    PatientDetails {
        name: name.to_owned(),
        species: "Canine".to_owned(),
        breed: Some("Border Collie".to_owned()),
        sex: PatientSex::MaleNeutered,
        date_of_birth: None,
        colour: Some("Black and white".to_owned()),
        microchip: None,
        insurer: None,
        insurance_policy: None,
        standing: Standing::Active,
    }
}

/// Registers a client and their dog.
pub async fn client_with_dog(tx: &mut TenantTx, family: &str, dog_name: &str) -> (Client, Patient) {
    let client = clients::create(tx, &client_details("Alex", family))
        .await
        .unwrap();
    let patient = patients::create(tx, &dog(dog_name), &[(client.id, true)])
        .await
        .unwrap();
    (client, patient)
}

/// An appointment of `staff` from `start` for `minutes`.
pub fn booking(
    patient: Option<Uuid>,
    staff: Option<UserId>,
    start: DateTime<Utc>,
    minutes: i64,
) -> Booking {
    Booking {
        patient_id: patient.map(paddock_domain::PatientId::from_uuid),
        client_id: None,
        staff,
        resource_id: None,
        starts_at: start,
        ends_at: start + Duration::minutes(minutes),
        kind: AppointmentKind::Consultation,
        reason: Some("Annual check".to_owned()),
    }
}

/// 09:00 UTC on a fixed day next year (far from any clock edge).
pub fn nine_am() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 3, 15, 9, 0, 0).unwrap()
}

/// One row in every clinical table, for the isolation proof and the audit catalogue:
/// a client and patient, a resource, an encounter finalised with an addendum, vitals,
/// a problem, an allergy, a prescription, a vaccination and an appointment.
pub async fn seed_clinical_rows(tx: &mut TenantTx, vet: UserId) {
    let (_, patient) = client_with_dog(tx, "Fixture", "Rex").await;
    let room = resources::add(tx, "Consult room 1", ResourceKind::Room)
        .await
        .unwrap();
    let encounter = encounters::create(
        tx,
        &NewEncounter {
            patient_id: patient.id,
            kind: EncounterKind::Consultation,
            started_at: Utc::now(),
            attending: Some(vet),
            reason: Some("Limping".to_owned()),
            soap: Soap {
                subjective: "Lame on the left fore since Tuesday.".to_owned(),
                ..Soap::default()
            },
        },
    )
    .await
    .unwrap();
    record::record_vitals(
        tx,
        patient.id,
        &NewVitals {
            encounter_id: Some(encounter.id),
            recorded_at: Utc::now(),
            weight: Some(WeightKg::parse("weight_kg", "21.4").unwrap()),
            temperature: None,
            heart_rate: None,
            respiratory_rate: None,
        },
    )
    .await
    .unwrap();
    record::add_problem(
        tx,
        patient.id,
        &NewProblem {
            encounter_id: Some(encounter.id),
            kind: ProblemKind::Problem,
            description: "Lameness, left forelimb".to_owned(),
            code: Some((CodeSystem::Snomed, "272981000".to_owned())),
            onset_on: None,
        },
    )
    .await
    .unwrap();
    record::add_allergy(
        tx,
        patient.id,
        &NewAllergy {
            substance: "Penicillin".to_owned(),
            reaction: Some("Urticaria".to_owned()),
            severity: AllergySeverity::Moderate,
        },
    )
    .await
    .unwrap();
    let today = Utc::now().date_naive();
    record::prescribe(
        tx,
        patient.id,
        &NewPrescription {
            encounter_id: Some(encounter.id),
            drug: "Meloxicam 1.5 mg/ml oral suspension".to_owned(),
            dose: "0.7 ml".to_owned(),
            route: Route::Oral,
            frequency: "once daily with food".to_owned(),
            duration_days: Some(5),
            prescriber: vet,
            starts_on: today,
            notes: None,
        },
    )
    .await
    .unwrap();
    record::vaccinate(
        tx,
        patient.id,
        &NewVaccination {
            encounter_id: None,
            vaccine: "Nobivac DHP".to_owned(),
            manufacturer: Some("MSD".to_owned()),
            lot_number: "A123B45".to_owned(),
            lot_expires_on: Some(today + Duration::days(200)),
            given_on: today,
            next_due_on: Some(today + Duration::days(365)),
            administered_by: vet,
            rabies_tag: None,
        },
    )
    .await
    .unwrap();
    encounters::finalise(tx, encounter.id, Utc::now())
        .await
        .unwrap();
    encounters::add_addendum(tx, encounter.id, "Owner called: walking normally.")
        .await
        .unwrap();
    // Early in January, clear of the slots tests book around nine_am().
    let fixture_slot = Utc.with_ymd_and_hms(2027, 1, 4, 8, 0, 0).unwrap();
    let mut slot = booking(Some(patient.id.as_uuid()), Some(vet), fixture_slot, 20);
    slot.resource_id = Some(room.id);
    bookings::book(tx, &slot).await.unwrap();
}

/// A new member of practice A with the built-in `role`, joined through an invitation
/// (the store's public door); returns their user id.
pub async fn colleague(world: &crate::world::World, role: paddock_domain::BuiltinRole) -> UserId {
    use paddock_store::{RequestMeta, staff::invitations, staff::roles};
    let now = Utc::now();
    let meta = RequestMeta::system("colleague");
    let mut tx = world.app.begin(&world.a.principal, &meta).await.unwrap();
    let role_id = roles::list(&mut tx)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.builtin == Some(role))
        .unwrap()
        .id;
    let email = format!("{}.colleague@riverside.example", role.key());
    let email = paddock_domain::Email::parse("email", &email).unwrap();
    let invited = invitations::create(&mut tx, &email, role_id, now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let acceptor = invitations::Acceptor::New {
        display_name: paddock_domain::DisplayName::parse("name", "Colleague").unwrap(),
        password_hash: crate::world::test_hasher()
            .hash(
                &paddock_passwords::check_new_password(
                    "password",
                    crate::world::TEST_PASSWORD,
                    &[],
                )
                .unwrap(),
            )
            .await
            .unwrap(),
    };
    let (user, _) = invitations::accept(&world.app, &invited.token, acceptor, now, &meta)
        .await
        .unwrap()
        .unwrap();
    user
}
