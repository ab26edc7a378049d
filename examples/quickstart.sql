-- The quick start: files are tables. Run from the repository root:
--   cargo run -- -f examples/quickstart.sql
.mode table

-- A CSV file queried in place; missing readings are NULL.
SELECT station, count(*) AS days, count(temperature_c) AS readings,
       round(avg(temperature_c), 2) AS mean_c, round(sum(rain_mm), 1) AS rain_mm
FROM 'examples/data/readings.csv'
GROUP BY station ORDER BY station;

-- The same data as Parquet, joined with a JSON file: the warmest month per station.
CREATE VIEW monthly AS
SELECT r.station, s.lat, date_part('month', r.day) AS month, avg(r.temperature_c) AS mean_c
FROM read_parquet('examples/data/readings.parquet') AS r
JOIN read_json('examples/data/stations.json') AS s ON s.station = r.station
GROUP BY r.station, s.lat, date_part('month', r.day);

SELECT station, lat, month AS warmest_month, round(mean_c, 2) AS mean_c
FROM (SELECT *, row_number() OVER (PARTITION BY station ORDER BY mean_c DESC) AS rank FROM monthly)
WHERE rank = 1
ORDER BY lat DESC;
