//! Reading typed values out of rows. The domain's ids and codes know nothing of sqlx
//! (on purpose), so a `FromRow` struct names how each column is read:
//! `#[sqlx(try_from = "Uuid")]` for an id, `#[sqlx(try_from = "String")]` for a code,
//! and [`OptionalUuid`] for an id that may be NULL (an unowned patient's owner).

use sqlx::postgres::{PgTypeInfo, PgValueRef};
use sqlx::{Decode, Postgres, Type};
use uuid::Uuid;

/// A nullable UUID column, read into `Option` of any typed id.
pub(crate) struct OptionalUuid(Option<Uuid>);

impl Type<Postgres> for OptionalUuid {
    fn type_info() -> PgTypeInfo {
        <Uuid as Type<Postgres>>::type_info()
    }
}

impl<'r> Decode<'r, Postgres> for OptionalUuid {
    fn decode(value: PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(Self(<Option<Uuid> as Decode<'r, Postgres>>::decode(value)?))
    }
}

impl<T: From<Uuid>> From<OptionalUuid> for Option<T> {
    fn from(column: OptionalUuid) -> Self {
        column.0.map(T::from)
    }
}
