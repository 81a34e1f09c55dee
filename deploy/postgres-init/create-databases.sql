-- Run once by the postgres image on an empty data volume (docker-entrypoint-initdb.d),
-- as POSTGRES_USER (bookflow), who therefore owns each database. One database per service:
-- no service reads another's tables. Each service creates its tables with `migrate`.
CREATE DATABASE bookflow_booking;
CREATE DATABASE bookflow_notification;
CREATE DATABASE bookflow_scheduler;
CREATE DATABASE bookflow_recall;
CREATE DATABASE bookflow_checkin;
