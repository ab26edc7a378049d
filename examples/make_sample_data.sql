-- Makes the sample data in examples/data/ that the quick start reads.
-- Run from the repository root:  cargo run -- -f examples/make_sample_data.sql
-- A synthetic weather-station table: 4 stations x 366 days of 2024, deterministic values
-- (seasonal cycle + station offset + a fixed pseudo-random wiggle), a few missing readings.

CREATE TABLE readings AS
SELECT
    station,
    CAST(DATE '2024-01-01' + CAST(day AS INT) AS DATE) AS day,
    CASE WHEN (day * 7 + station_id * 13) % 97 = 0 THEN NULL
         ELSE round(10.0 - 12.0 * cos(2 * pi() * day / 365.0) + station_id * 1.5
                    + ((day * 37 + station_id * 101) % 17 - 8) / 4.0, 2)
    END AS temperature_c,
    round(abs(sin(day * 0.7 + station_id)) * 12.0, 1) AS rain_mm
FROM (SELECT value AS day FROM generate_series(0, 365)) AS days
CROSS JOIN (VALUES (0, 'Abisko'), (1, 'Uppsala'), (2, 'Lund'), (3, 'Visby')) AS s(station_id, station);

CREATE TABLE stations AS
SELECT * FROM (VALUES
    ('Abisko', 68.35, 18.82, 388),
    ('Uppsala', 59.86, 17.64, 24),
    ('Lund', 55.71, 13.19, 73),
    ('Visby', 57.64, 18.30, 45)
) AS s(station, lat, lon, elevation_m);

COPY (SELECT * FROM readings ORDER BY station, day) TO 'examples/data/readings.csv';
COPY (SELECT * FROM readings ORDER BY station, day) TO 'examples/data/readings.parquet';
COPY (SELECT * FROM stations ORDER BY station) TO 'examples/data/stations.json';
