-- Tenant data of the reference SaaS: campaigns and leads.
--
-- Every table carries `tenant_id`, has a composite primary key `(tenant_id, id)` and is protected
-- with `tenancy.protect_table` (ENABLE + FORCE row level security, a RESTRICTIVE tenant policy,
-- `tenant_id` NOT NULL with the current tenant as default, TRUNCATE revoked). Handlers never
-- write `tenant_id`: the default fills it in and the policy's WITH CHECK refuses anything else.
CREATE TABLE campaigns (
    tenant_id  uuid NOT NULL,
    id         uuid NOT NULL,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    status     text NOT NULL DEFAULT 'draft'
               CHECK (status IN ('draft', 'active', 'paused', 'archived')),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (tenant_id, id)
);
SELECT tenancy.protect_table('campaigns');

-- `campaign_id` can only name a campaign of the same tenant: the foreign key includes the tenant
-- (foreign key checks ignore row level security, so a plain `campaign_id` key would let a tenant
-- link to, and probe for, another tenant's campaign).
CREATE TABLE leads (
    tenant_id   uuid NOT NULL,
    id          uuid NOT NULL,
    campaign_id uuid,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    email       text CHECK (length(email) <= 254),
    phone       text CHECK (length(phone) <= 40),
    status      text NOT NULL DEFAULT 'new'
                CHECK (status IN ('new', 'contacted', 'qualified', 'won', 'lost')),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns (tenant_id, id)
        ON DELETE SET NULL (campaign_id)
);
CREATE INDEX leads_campaign ON leads (tenant_id, campaign_id);
SELECT tenancy.protect_table('leads');

GRANT SELECT, INSERT, UPDATE, DELETE ON campaigns, leads TO tenancy_runtime;
