//! (placeholder until the expression branch lands)
#[derive(Debug)]
pub struct WorkflowConfiguration(Vec<String>);
impl WorkflowConfiguration {
    pub fn parse(json: &str) -> Result<WorkflowConfiguration, String> {
        let v: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let mut q = vec![];
        for f in v["task_routing"]["filters"].as_array().into_iter().flatten() {
            for t in f["targets"].as_array().into_iter().flatten() {
                if let Some(s) = t["queue"].as_str() {
                    q.push(s.to_owned())
                }
            }
        }
        if let Some(s) = v["task_routing"]["default_filter"]["queue"].as_str() {
            q.push(s.to_owned())
        }
        Ok(WorkflowConfiguration(q))
    }
    pub fn queue_sids(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}
