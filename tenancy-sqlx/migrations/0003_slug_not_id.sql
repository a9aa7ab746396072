-- A tenant slug never has the form of a tenant id (a hyphenated UUID): selectors such as
-- `X-Tenant` read that form as an id, so such a slug could never be selected by slug, and a
-- value would be ambiguous. `tenancy_core::SlugPolicy` refuses the form; this is the same rule
-- in the database. (The slug check of 0001 already admits lowercase only.)
ALTER TABLE tenancy.tenants
    ADD CONSTRAINT tenants_slug_not_id
    CHECK (slug !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$');
