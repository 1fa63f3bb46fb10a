# The image every Airflow container of docker-compose.yaml runs: the official Airflow image plus this
# package, installed with the committed pins, so a container runs what the test suite ran.
FROM apache/airflow:3.3.2-python3.11

# The official image installs Python packages as the airflow user (into its ~/.local), never as root.
USER airflow

# Only what the package build reads (.dockerignore keeps everything else out of the build context).
# ml_connector/mappings is a link to include/mappings: the mapping files shipped in the wheel come from there.
# The folder is made first so that it belongs to airflow: pip builds the package inside it.
RUN mkdir /tmp/ml-connector
COPY --chown=airflow:0 pyproject.toml README.md constraints.txt /tmp/ml-connector/
COPY --chown=airflow:0 ml_connector/ /tmp/ml-connector/ml_connector/
COPY --chown=airflow:0 include/ /tmp/ml-connector/include/
WORKDIR /tmp/ml-connector

# constraints.txt pins apache-airflow==3.3.2, the image's own version. Naming the image's version as well
# ($AIRFLOW_VERSION, set by the base image) makes pip fail rather than replace the image's Airflow should
# the two ever differ. pip check turns a pin that clashes with a package the image ships into a build
# error instead of a failing task.
RUN pip install --no-cache-dir -c constraints.txt "apache-airflow==${AIRFLOW_VERSION}" . \
    && pip check \
    && rm -rf /tmp/ml-connector

WORKDIR /opt/airflow
# Mount points of the staging and state volumes: a new named volume takes its owner from the image.
RUN mkdir -p /opt/airflow/ml_connector/staging /opt/airflow/ml_connector/state
