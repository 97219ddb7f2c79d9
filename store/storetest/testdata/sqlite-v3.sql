PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL
	);
INSERT INTO schema_migrations VALUES(1,'requests, grants and the audit chain',1796403544440220);
INSERT INTO schema_migrations VALUES(2,'no subject index on the audit trail',1796403544442299);
INSERT INTO schema_migrations VALUES(3,'no code index on the audit trail',1796403544443941);
CREATE TABLE sharing_requests (
	id            TEXT PRIMARY KEY,
	requester     TEXT NOT NULL CHECK (requester <> ''),
	requested_by  TEXT NOT NULL,
	department    TEXT NOT NULL CHECK (department <> ''),
	codes         TEXT NOT NULL,
	purpose       TEXT NOT NULL CHECK (purpose <> ''),
	justification TEXT NOT NULL,
	status        TEXT NOT NULL CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED')),
	created_at    INTEGER NOT NULL,
	deadline      INTEGER NOT NULL,
	decided_at    INTEGER,
	decided_by    TEXT NOT NULL DEFAULT '',
	reason        TEXT NOT NULL DEFAULT '',
	valid_until   INTEGER,
	grant_id      TEXT NOT NULL DEFAULT ''
);
INSERT INTO sharing_requests VALUES('SR-20261127-HCX2G71BVF','online-hall','zhang.wei@online-hall','psb','["310115-PSB-RK01-002","310115-PSB-RK01-005"]','administrative-approval','licences','APPROVED',1795771800123456,1796203800123456,1795775400123456,'li.ming@psb','ok',1827307800123456,'GR-20261127-20RT0NWSMY');
INSERT INTO sharing_requests VALUES('SR-20261127-WGMSQGBGZ5','online-hall','zhang.wei@online-hall','hrss','["310115-HRSS-SB01-001"]','administrative-approval','insurance','PENDING',1795771860123456,1796207400123456,NULL,'','',NULL,'');
CREATE TABLE grants (
	id          TEXT PRIMARY KEY,
	consumer    TEXT NOT NULL,
	purpose     TEXT NOT NULL,
	codes       TEXT NOT NULL,
	department  TEXT NOT NULL,
	request_id  TEXT REFERENCES sharing_requests (id),
	granted_by  TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	valid_until INTEGER,
	revoked_at  INTEGER,
	revoked_by  TEXT NOT NULL DEFAULT ''
);
INSERT INTO grants VALUES('GR-20261127-20RT0NWSMY','online-hall','administrative-approval','["310115-PSB-RK01-002","310115-PSB-RK01-005"]','psb','SR-20261127-HCX2G71BVF','li.ming@psb',1795775400123456,1827307800123456,NULL,'');
CREATE TABLE audit_events (
	seq        INTEGER PRIMARY KEY,
	at         INTEGER NOT NULL,
	consumer   TEXT NOT NULL,
	end_user   TEXT NOT NULL,
	purpose    TEXT NOT NULL,
	request_id TEXT NOT NULL,
	code       TEXT NOT NULL,
	owner      TEXT NOT NULL,
	subject    TEXT NOT NULL,
	decision   TEXT NOT NULL,
	grant_id   TEXT NOT NULL,
	prev_hash  TEXT NOT NULL,
	hash       TEXT NOT NULL
);
INSERT INTO audit_events VALUES(1,1795771800123456,'online-hall','clerk-7','administrative-approval','req-0','310115-PSB-RK01-002','psb','310115198503120012','ALLOW','GR-1','','f47632d0fbf6fc0fae2bad9056c653da8c065143e0a9d92cf56e8db469a80e0c');
INSERT INTO audit_events VALUES(2,1795771860123456,'online-hall','clerk-7','administrative-approval','req-1','310115-PSB-RK01-002','psb','310115198503120012','ALLOW','GR-1','f47632d0fbf6fc0fae2bad9056c653da8c065143e0a9d92cf56e8db469a80e0c','0876e3dda48fc0bdb172c648dd355e5451f48a8020c1ea20301b389adaa0ad95');
INSERT INTO audit_events VALUES(3,1795771920123456,'online-hall','clerk-7','administrative-approval','req-2','310115-PSB-RK01-002','psb','310115198503120012','ALLOW','GR-1','0876e3dda48fc0bdb172c648dd355e5451f48a8020c1ea20301b389adaa0ad95','b5d4bf7abbe53cca6c75b2c3b103856b2ec8d2b519364423c70a09fcad85f6a2');
INSERT INTO audit_events VALUES(4,1795771980123456,'online-hall','clerk-7','administrative-approval','req-3','310115-PSB-RK01-002','psb','310115198503120012','ALLOW','GR-1','b5d4bf7abbe53cca6c75b2c3b103856b2ec8d2b519364423c70a09fcad85f6a2','ac060aa1a61489197ec779735a7773e3fb613b341a8356cc6ab811708ecea96f');
INSERT INTO audit_events VALUES(5,1795772040123456,'online-hall','clerk-7','administrative-approval','req-4','310115-PSB-RK01-002','psb','310115198503120012','ALLOW','GR-1','ac060aa1a61489197ec779735a7773e3fb613b341a8356cc6ab811708ecea96f','54f02157b6395bc07ebfbd35224e64d2a9e0714a0c19000afcd43a10f322009e');
CREATE TABLE change_version (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	version INTEGER NOT NULL
);
INSERT INTO change_version VALUES(1,2);
CREATE INDEX sharing_requests_requester ON sharing_requests (requester, created_at);
CREATE INDEX sharing_requests_department ON sharing_requests (department, created_at);
CREATE INDEX audit_events_owner ON audit_events (owner, seq);
COMMIT;
