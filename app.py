"""The vaxpass Chalice app: creates the app and registers blueprints. Nothing else."""
from chalice import Chalice

from chalicelib.access.routes import bp as access_routes
from chalicelib.cleaning.events import bp as cleaning_events
from chalicelib.complaints.routes import bp as complaint_routes
from chalicelib.health.routes import bp as health_routes
from chalicelib.intake.events import bp as intake_events
from chalicelib.intake.routes import bp as intake_routes
from chalicelib.issuance.events import bp as issuance_events
from chalicelib.issuance.routes import bp as passport_routes
from chalicelib.platform.routes import bp as platform_routes
from chalicelib.reports.routes import bp as report_routes
from chalicelib.rules.routes import bp as rule_routes
from chalicelib.signing.routes import bp as signing_routes
from chalicelib.trust.routes import bp as trust_routes

app = Chalice(app_name="vaxpass")
# QR images are binary: API Gateway must pass them through base64-encoded.
app.api.binary_types.append("image/png")
app.register_blueprint(health_routes)
app.register_blueprint(intake_routes)
app.register_blueprint(signing_routes)
app.register_blueprint(passport_routes)
app.register_blueprint(trust_routes)
app.register_blueprint(platform_routes)
app.register_blueprint(report_routes)
app.register_blueprint(complaint_routes)
app.register_blueprint(rule_routes)
app.register_blueprint(access_routes)
app.register_blueprint(intake_events)
app.register_blueprint(cleaning_events)
app.register_blueprint(issuance_events)
